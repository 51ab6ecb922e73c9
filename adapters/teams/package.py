"""The Teams app package: manifest.json plus the two icons, zipped at the root of the archive.

Icons are drawn here (no image library at run time): the colour icon is 192×192 with a full
accent-colour background, the outline icon 32×32 white on a transparent background, as the
Teams app package guidelines ask. The motif is 回 (two nested squares), from 回覧.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

MANIFEST_VERSION = "1.30"  # newest generally available schema found (Microsoft 365 app manifest, Aug 2026)
SCHEMA_URL = (
    f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
)
SCOPES = ("personal", "team", "groupChat")
COLOR_SIZE = 192
OUTLINE_SIZE = 32
DEFAULT_ACCENT = "#1F4E79"
LANGUAGE = "ja-jp"  # every string of the package is Japanese; without this Teams reads them as en-us
# The publisher's pages the schema requires: the admin's settings, never a stand-in.
PUBLISHER_PAGES = {
    "websiteUrl": "platforms.teams.app_package.website_url",
    "privacyUrl": "platforms.teams.app_package.privacy_url",
    "termsOfUseUrl": "platforms.teams.app_package.terms_url",
}

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")

Rgba = tuple[int, int, int, int]


class AppPackageError(ValueError):
    """An argument the Teams app manifest schema would reject; the message names it."""


# --- PNG ---------------------------------------------------------------------------------------


def png_bytes(width: int, height: int, pixel: Callable[[int, int], Rgba]) -> bytes:
    """An 8-bit RGBA PNG whose pixel (x, y) is ``pixel(x, y)``."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            rows.extend(pixel(x, y))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def _in_ring(x: float, y: float, size: float, lo: float, hi: float, stroke: float) -> bool:
    """Inside the square outline spanning [lo, hi] (fractions of ``size``) with ``stroke`` px."""
    a, b = lo * size, hi * size
    inside = a <= x < b and a <= y < b
    inner = a + stroke <= x < b - stroke and a + stroke <= y < b - stroke
    return inside and not inner


def _kai(x: int, y: int, size: int, stroke: float) -> bool:
    """The 回 motif: an outer and an inner square outline."""
    cx, cy = x + 0.5, y + 0.5
    return _in_ring(cx, cy, size, 0.22, 0.78, stroke) or _in_ring(cx, cy, size, 0.39, 0.61, stroke)


def color_icon(accent: str = DEFAULT_ACCENT) -> bytes:
    r, g, b = (int(accent[i : i + 2], 16) for i in (1, 3, 5))
    white: Rgba = (255, 255, 255, 255)
    background: Rgba = (r, g, b, 255)
    return png_bytes(COLOR_SIZE, COLOR_SIZE, lambda x, y: white if _kai(x, y, COLOR_SIZE, 12) else background)


def outline_icon() -> bytes:
    white: Rgba = (255, 255, 255, 255)
    clear: Rgba = (0, 0, 0, 0)
    return png_bytes(OUTLINE_SIZE, OUTLINE_SIZE, lambda x, y: white if _kai(x, y, OUTLINE_SIZE, 2) else clear)


# --- manifest ----------------------------------------------------------------------------------


def app_manifest(
    *,
    bot_id: str,
    name: str,
    app_id: str | None = None,
    version: str = "1.0.0",
    full_name: str | None = None,
    short_description: str = "法令・通知を条文の引用つきで答えるボット",
    full_description: str = (
        "自治体職員の質問に、法令・通知・官報から該当条文を示して回答します。"
        "根拠が見つからないときはその旨と照会文案をお示しします。"
        "チャネルではメンションして質問してください。"
    ),
    developer_name: str = "kairan",
    website_url: str | None = None,
    privacy_url: str | None = None,
    terms_url: str | None = None,
    accent_color: str = DEFAULT_ACCENT,
    valid_domains: tuple[str, ...] = (),
) -> dict[str, Any]:
    """manifest.json for a bot-only app installable in personal chats, teams and group chats.

    ``website_url``, ``privacy_url`` and ``terms_url`` are the publisher's pages (the manifest's
    ``platforms.teams.app_package``); each is required, none is made up.
    """
    app_id = app_id or bot_id
    for field, value in (("bot_id", bot_id), ("app_id", app_id)):
        if not _GUID.match(value):
            raise AppPackageError(f"{field} must be the Entra app (client) id, a GUID; got {value!r}")
    checks = (
        ("name", name, 1, 30),
        ("full_name", full_name or name, 1, 100),
        ("short_description", short_description, 1, 80),
        ("full_description", full_description, 1, 4000),
        ("developer_name", developer_name, 1, 32),
    )
    for field, value, lo, hi in checks:
        if not lo <= len(value) <= hi:
            raise AppPackageError(f"{field} must be {lo}-{hi} characters, got {len(value)}: {value!r}")
    if not _SEMVER.match(version):
        raise AppPackageError(f"version must look like 1.0.0, got {version!r}")
    if not _HEX_COLOR.match(accent_color):
        raise AppPackageError(f"accent_color must be #RRGGBB, got {accent_color!r}")
    given = {"websiteUrl": website_url, "privacyUrl": privacy_url, "termsOfUseUrl": terms_url}
    missing = [PUBLISHER_PAGES[field] for field, url in given.items() if not url]
    if missing:
        raise AppPackageError(
            "Teams アプリパッケージには公開元のページの URL が必要です / the Teams app package needs the "
            f"publisher's pages: set {', '.join(missing)} (https)"
        )
    urls = {field: str(url) for field, url in given.items()}
    for field, url in urls.items():
        if not url.startswith("https://"):
            raise AppPackageError(f"developer.{field} must be an https URL, got {url!r}")
    manifest: dict[str, Any] = {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        "id": app_id,
        "developer": {"name": developer_name, **urls},
        "name": {"short": name, "full": full_name or name},
        "description": {"short": short_description, "full": full_description},
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": accent_color,
        "localizationInfo": {"defaultLanguageTag": LANGUAGE},
        "bots": [
            {
                "botId": bot_id,
                "scopes": list(SCOPES),
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [
                    {
                        "scopes": list(SCOPES),
                        "commands": [
                            {
                                "title": "質問する",
                                "description": "例: 地方自治法第238条の4の行政財産の貸付けは？",
                            },
                        ],
                    }
                ],
            }
        ],
        "validDomains": list(valid_domains),
    }
    return manifest


def build_app_package(out: Path, *, bot_id: str, name: str = "kairan", **manifest_fields: Any) -> Path:
    """Write the Teams app package (manifest.json, color.png, outline.png) to ``out``; return it.

    ``manifest_fields`` are the keyword arguments of ``app_manifest`` (version, descriptions,
    developer URLs, accent colour, …).
    """
    manifest = app_manifest(bot_id=bot_id, name=name, **manifest_fields)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
        archive.writestr("color.png", color_icon(manifest["accentColor"]))
        archive.writestr("outline.png", outline_icon())
    return out
