"""Format detection: each parser module offers ``sniff(data, source)`` and ``parse(data, source)``.

Which parsers may read a source depends on where it came from (``Provenance``), never on
its name or shape alone: the e-Gov API client brings statutes (e-Gov formats only), a
digest feed brings notices (a PDF, an HTML page or text, whatever it looks like), and an
admin's files are recognised by format. Order matters: specific formats (e-Gov law data)
are tried before generic ones (any HTML page, any text).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType

from knowledge.documents import ParsedDocument, ParseError
from knowledge.identity import Provenance
from knowledge.limits import Budget

PARSER_MODULES = ("egov_xml", "egov_json", "egov_html", "qa", "pdf", "notice_html", "markdown")
EGOV_MODULES = ("egov_xml", "egov_json", "egov_html")
SUPPORTED_SUFFIXES = frozenset({".xml", ".json", ".html", ".htm", ".csv", ".pdf", ".md", ".markdown", ".txt"})


BUDGETED = frozenset({"pdf"})  # parsers whose parse() also takes the file's Budget


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"knowledge.parsers.{name}")


def _modules(names: tuple[str, ...] = PARSER_MODULES) -> list[ModuleType]:
    return [_module(name) for name in names]


def _parse_with(module: ModuleType, data: bytes, source: str, budget: Budget) -> ParsedDocument:
    if module.__name__.rsplit(".", 1)[1] in BUDGETED:
        return module.parse(data, source, budget)
    return module.parse(data, source)


def parse_bytes(
    data: bytes, source: str, provenance: Provenance = Provenance.ADMIN, budget: Budget | None = None
) -> ParsedDocument:
    """Parse ``data`` as its provenance allows, or raise ParseError naming ``source``.

    ``budget`` bounds the formats whose cost can outgrow the file (PDF: decompression, layout).
    """
    if not data.strip():
        raise ParseError(f"{source}: the file is empty")
    budget = budget or Budget(source)
    if provenance is Provenance.FEED:
        return _named(source, lambda: parse_notice(data, source, budget))
    names = EGOV_MODULES if provenance is Provenance.EGOV else PARSER_MODULES
    for module in _modules(names):
        if module.sniff(data, source):
            return _named(source, partial(_parse_with, module, data, source, budget))
    if provenance is Provenance.EGOV:
        raise ParseError(f"{source}: not e-Gov law data (XML, JSON or law HTML)")
    raise ParseError(
        f"{source}: unknown file type (expected e-Gov XML/JSON/HTML, a notice page, PDF, Markdown, text "
        "or a Q&A CSV/JSON)"
    )


def parse_notice(data: bytes, source: str, budget: Budget | None = None) -> ParsedDocument:
    """A document a feed linked to: a PDF by its magic bytes, else an HTML page, else text."""
    if data[:1024].lstrip().startswith(b"%PDF"):
        return _parse_with(_module("pdf"), data, source, budget or Budget(source))
    html = _module("notice_html")
    if html.sniff(data, source):
        return html.parse(data, source)
    return _module("markdown").parse_document(data, source)


def _named(source: str, parse: Callable[[], ParsedDocument]) -> ParsedDocument:
    try:
        return parse()
    except ParseError as exc:
        message = str(exc)
        raise type(exc)(message if source in message else f"{source}: {message}") from exc


def parse_file(path: Path) -> ParsedDocument:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(f"{path}: cannot read ({exc.strerror})") from exc
    return parse_bytes(data, str(path))
