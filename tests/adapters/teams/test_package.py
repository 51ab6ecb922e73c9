"""The Teams app package: manifest.json on the current schema, real icons, flat zip layout."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from adapters.teams.package import (
    MANIFEST_VERSION,
    SCHEMA_URL,
    AppPackageError,
    app_manifest,
    build_app_package,
    png_bytes,
)
from kairan.cli import cli

BOT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
# The publisher's pages, as the admin sets them under platforms.teams.app_package.
URLS = {
    "website_url": "https://www.city.yokosuka.kanagawa.jp/kairan",
    "privacy_url": "https://www.city.yokosuka.kanagawa.jp/kairan/privacy",
    "terms_url": "https://www.city.yokosuka.kanagawa.jp/kairan/terms",
}
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
# Required at the root by the app manifest schema (and the developer / name / description parts).
REQUIRED = ("manifestVersion", "version", "id", "developer", "name", "description", "icons", "accentColor")


def read_package(path: Path) -> tuple[list[str], dict, Image.Image, Image.Image]:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json").decode("utf-8"))
        color = Image.open(io.BytesIO(archive.read("color.png")))
        outline = Image.open(io.BytesIO(archive.read("outline.png")))
        color.load()
        outline.load()
    return names, manifest, color, outline


def test_package_has_the_documented_layout_and_fields(tmp_path: Path) -> None:
    out = build_app_package(tmp_path / "dist" / "kairan-teams.zip", bot_id=BOT_ID, name="kairan", **URLS)
    names, manifest, _, _ = read_package(out)

    assert sorted(names) == ["color.png", "manifest.json", "outline.png"]  # at the root, no folder
    for key in REQUIRED:
        assert manifest[key], key
    assert (
        manifest["$schema"]
        == SCHEMA_URL
        == (
            f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
        )
    )
    assert manifest["manifestVersion"] == "1.30"
    assert manifest["id"] == BOT_ID
    assert manifest["developer"] == {
        "name": "kairan",
        "websiteUrl": URLS["website_url"],
        "privacyUrl": URLS["privacy_url"],
        "termsOfUseUrl": URLS["terms_url"],
    }
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["description"]["short"]) <= 80
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    [bot] = manifest["bots"]
    assert bot["botId"] == BOT_ID
    assert bot["scopes"] == ["personal", "team", "groupChat"]
    assert bot["isNotificationOnly"] is False


def rgba(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    """One pixel of a multi-band image (Pillow types getpixel for single-band images too)."""
    pixel = image.getpixel(xy)
    assert isinstance(pixel, tuple)
    return pixel


def test_icons_are_real_pngs_of_the_required_sizes(tmp_path: Path) -> None:
    _, _, color, outline = read_package(build_app_package(tmp_path / "p.zip", bot_id=BOT_ID, **URLS))

    assert (color.format, color.size) == ("PNG", (192, 192))
    assert len({color.getpixel((x, y)) for x in range(0, 192, 4) for y in range(0, 192, 4)}) >= 2
    assert color.getpixel((0, 0)) == (0x1F, 0x4E, 0x79, 255)  # full-bleed accent background
    assert (outline.format, outline.size, outline.mode) == ("PNG", (32, 32), "RGBA")
    pixels = [rgba(outline, (x, y)) for x in range(32) for y in range(32)]
    transparent = [p for p in pixels if p[3] == 0]
    drawn = [p for p in pixels if p[3] != 0]
    assert rgba(outline, (0, 0))[3] == 0 and len(transparent) > 512  # transparent background
    assert drawn and all(p == (255, 255, 255, 255) for p in drawn)  # white outline only


def test_png_writer_round_trips_through_pillow() -> None:
    data = png_bytes(3, 2, lambda x, y: (x * 100, y * 200, 7, 255 - x))
    image = Image.open(io.BytesIO(data))
    assert image.size == (3, 2)
    assert image.getpixel((2, 1)) == (200, 200, 7, 253)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bot_id": "kairan-bot"}, "bot_id must be the Entra app"),
        (
            {"name": "自治体職員のための法令・通知・官報の条文を引用して答えるチャットボット"},
            "name must be 1-30",
        ),
        ({"accent_color": "blue"}, "accent_color must be #RRGGBB"),
        ({"website_url": "http://intranet.example.jp"}, "developer.websiteUrl must be an https URL"),
        ({"version": "1.0"}, "version must look like 1.0.0"),
    ],
)
def test_values_the_schema_rejects_are_refused(kwargs: dict[str, str], message: str) -> None:
    args = {"bot_id": BOT_ID, "name": "kairan", **URLS, **kwargs}
    with pytest.raises(AppPackageError, match=message):
        app_manifest(**args)  # type: ignore[arg-type]


def test_the_package_says_its_strings_are_japanese(tmp_path: Path) -> None:
    _, manifest, _, _ = read_package(build_app_package(tmp_path / "p.zip", bot_id=BOT_ID, **URLS))

    # Without localizationInfo Teams takes the strings for en-us.
    assert manifest["localizationInfo"] == {"defaultLanguageTag": "ja-jp"}
    texts = [manifest["description"]["short"], manifest["description"]["full"]]
    commands = manifest["bots"][0]["commandLists"][0]["commands"]
    texts += [command[k] for command in commands for k in ("title", "description")]
    assert all(JAPANESE.search(t) for t in texts)


@pytest.mark.parametrize("missing", sorted(URLS))
def test_no_placeholder_stands_in_for_a_publisher_page(missing: str) -> None:
    given: dict[str, Any] = {k: v for k, v in URLS.items() if k != missing}
    with pytest.raises(AppPackageError, match=f"platforms.teams.app_package.{missing}"):
        app_manifest(bot_id=BOT_ID, name="kairan", **given)


def test_kairan_manifest_teams_takes_the_pages_from_the_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "kairan.yaml"
    pages = "".join(f"        {k}: {v}\n" for k, v in URLS.items())
    with_pages = "version: 1\nplatforms:\n  teams:\n    app_package:\n"
    manifest.write_text(with_pages + pages, encoding="utf-8")
    out = tmp_path / "kairan-teams.zip"
    args = ["manifest", "teams", "--manifest", str(manifest), "--out", str(out)]

    built = CliRunner().invoke(cli, [*args, "--bot-id", BOT_ID])
    assert built.exit_code == 0, built.output
    _, package, _, _ = read_package(out)
    assert package["developer"]["privacyUrl"] == URLS["privacy_url"]
    assert package["localizationInfo"]["defaultLanguageTag"] == "ja-jp"

    manifest.write_text("version: 1\nplatforms:\n  teams: {}\n", encoding="utf-8")
    refused = CliRunner().invoke(cli, [*args, "--bot-id", BOT_ID, "--website-url", URLS["website_url"]])
    assert refused.exit_code == 1
    assert "platforms.teams.app_package.privacy_url" in refused.output
    assert "platforms.teams.app_package.terms_url" in refused.output
    assert "website_url" not in refused.output  # given on the command line

    manifest.write_text(with_pages + pages.replace("https", "http"), encoding="utf-8")
    not_https = CliRunner().invoke(cli, [*args, "--bot-id", BOT_ID])
    assert not_https.exit_code == 2 and "must be an https URL" in not_https.output
