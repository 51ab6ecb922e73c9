"""Decoding Japanese web pages and text files whose declared charset may be wrong.

Order of trust: a byte-order mark, then bytes that decode as strict UTF-8
(many 国税庁 pages say ``charset=shift_jis`` but are UTF-8), then the declared
charset (HTTP header, then ``<meta>``) if it decodes strictly, then detection
restricted to the encodings Japanese sites actually use.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

from knowledge.documents import ParseError

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Labels browsers treat as Shift_JIS really mean Microsoft's superset cp932 (the WHATWG Encoding
# Standard's Shift_JIS decoder): ①, Ⅱ, 髙 and ㈱ are not in JIS X 0208, and one of them makes a strict
# Shift_JIS decoder reject the whole page. Python's own aliases of shift_jis (csShiftJIS, s_jis, …)
# are mapped too, in ``codec_name``.
_ALIASES = {
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "ms932": "cp932",
    "cp932": "cp932",
    "euc-jp": "euc_jp",
    "x-euc-jp": "euc_jp",
    "eucjp": "euc_jp",
    "iso-2022-jp": "iso2022_jp",
    "csiso2022jp": "iso2022_jp",
    "utf8": "utf-8",
}

DETECTION_CANDIDATES = ("cp932", "euc_jp", "iso2022_jp", "utf-8")

_XML_DECLARATION = re.compile(rb"""^\s*<\?xml\s[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:-]+)["']""")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_ISO2022_ESCAPE = re.compile(rb"\x1b\$[@B]|\x1b\(J")


def codec_name(label: str) -> str | None:
    """Python codec for a charset label, or None when unknown."""
    name = _ALIASES.get(label.strip().lower(), label.strip().lower())
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    return "cp932" if codec == "shift_jis" else codec


def charset_from_header(value: str) -> str | None:
    """Charset from a Content-Type value ("text/html; charset=Shift_JIS") or a bare label."""
    match = _HEADER_CHARSET.search(value)
    label = match.group(1) if match else value
    return codec_name(label) if label.strip() else None


def charset_from_meta(data: bytes) -> str | None:
    """Charset declared by a ``<meta>`` tag in the first 4 KiB of an HTML document."""
    match = _META_CHARSET.search(data[:4096])
    return codec_name(match.group(1).decode("ascii")) if match else None


def charset_from_xml_declaration(data: bytes) -> str | None:
    """The label an XML declaration names (``<?xml version="1.0" encoding="Shift_JIS"?>``), as written."""
    match = _XML_DECLARATION.match(data[:1024])
    return match.group(1).decode("ascii") if match else None


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _decode(data: bytes, declared: list[str | None]) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            text = _strict(data, encoding)
            if text is None:
                raise ParseError(f"bytes start with a {encoding} byte-order mark but do not decode as it")
            return text
    # 7-bit ISO-2022-JP is also valid UTF-8, so its escape sequences must be checked first.
    if _ISO2022_ESCAPE.search(data):
        text = _strict(data, "iso2022_jp")
        if text is not None:
            return text
    text = _strict(data, "utf-8")
    if text is not None:
        return text
    for name in declared:
        if name:
            text = _strict(data, name)
            if text is not None:
                return text
    best = from_bytes(data, cp_isolation=list(DETECTION_CANDIDATES)).best()
    if best is None or best.encoding is None:
        tried = [e for e in declared if e]
        raise ParseError(
            f"cannot decode {len(data)} bytes: not UTF-8, declared charset {tried or 'none'} failed, "
            f"and none of {', '.join(DETECTION_CANDIDATES)} fits"
        )
    return str(best)


def decode_html(data: bytes, content_type: str | None = None) -> str:
    """Decode an HTML page; ``content_type`` is the HTTP header value if known."""
    declared = [charset_from_header(content_type) if content_type else None, charset_from_meta(data)]
    return _decode(data, declared)


def decode_text(data: bytes, content_type: str | None = None) -> str:
    """Decode a plain-text, Markdown or CSV file (BOM, UTF-8, declared, then detection)."""
    return _decode(data, [charset_from_header(content_type) if content_type else None])
