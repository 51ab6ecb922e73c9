"""Format detection: each parser module offers ``sniff(data, source)`` and ``parse(data, source)``.

Order matters: specific formats (e-Gov law data) are tried before generic
ones (any HTML page, any text).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from knowledge.documents import ParsedDocument, ParseError

PARSER_MODULES = ("egov_xml", "egov_json", "egov_html", "qa", "pdf", "notice_html", "markdown")
SUPPORTED_SUFFIXES = frozenset({".xml", ".json", ".html", ".htm", ".csv", ".pdf", ".md", ".markdown", ".txt"})


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f"knowledge.parsers.{name}") for name in PARSER_MODULES]


def parse_bytes(data: bytes, source: str) -> ParsedDocument:
    """Parse ``data`` with the first parser that recognises it, or raise ParseError naming ``source``."""
    if not data.strip():
        raise ParseError(f"{source}: the file is empty")
    for module in _modules():
        if module.sniff(data, source):
            try:
                return module.parse(data, source)
            except ParseError as exc:
                message = str(exc)
                raise ParseError(message if source in message else f"{source}: {message}") from exc
    raise ParseError(
        f"{source}: unknown file type (expected e-Gov XML/JSON/HTML, a notice page, PDF, Markdown, text "
        "or a Q&A CSV/JSON)"
    )


def parse_file(path: Path) -> ParsedDocument:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(f"{path}: cannot read ({exc.strerror})") from exc
    return parse_bytes(data, str(path))
