"""e-Gov API v2 ``law_file/html`` output → ``ParsedDocument``.

The page is a flat run of ``<section class="active …">`` blocks: structure titles
(Part/Chapter/Section/Subsection/Division), ``Article`` sections, ``SupplProvision``
blocks holding Article or Paragraph sections, and ``AppdxTable`` sections. Class
names are matched by prefix because real files carry typos ("Sectiot",
"followingSubsectiont"). The law id and revision come from the file name
``{law_id}_{yyyymmdd}_{amend}.html`` passed as ``source``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import lxml.html
from lxml import etree

from knowledge.documents import ParsedDocument, ParsedSection, ParseError
from knowledge.parsers.egov_common import (
    CELL_JOIN,
    SectionCollector,
    clean,
    law_kind,
    revision_from_name,
    source_stem,
)

_LEVEL_TITLES = {
    "_div_PartTitle": 0,
    "_div_ChapterTitle": 1,
    "_div_SectionTitle": 2,
    "_div_SubsectionTitle": 3,
    "_div_DivisionTitle": 4,
}
_SKIP_CLASSES = frozenset({"_shokanBox", "_inyoBox", "_shokanBtnIcons"})
_SKIP_TAGS = frozenset({"rt", "rp", "script", "style"})
_AMEND_LAW_NUM = re.compile(r"（([^（）]+)）")


def sniff(data: bytes, source: str) -> bool:
    """True for an e-Gov law HTML page (it carries the lawTitle block and Article sections)."""
    head = data[:200_000]
    return b"<html" in head[:2000].lower() and b'id="lawTitle"' in head and b"_div_" in data


def parse(data: bytes, source: str) -> ParsedDocument:
    try:
        root = lxml.html.document_fromstring(data, parser=lxml.html.HTMLParser(encoding="utf-8"))
    except (etree.ParserError, ValueError) as exc:
        raise ParseError(f"{source}: not parseable as HTML: {exc}") from exc
    title_el = root.find('.//*[@id="lawTitle"]')
    if title_el is None:
        raise ParseError(f"{source}: no #lawTitle element; not an e-Gov law page")
    law_num_el = root.find('.//*[@id="lawTitleNo"]')
    revision = revision_from_name(source_stem(source))
    if revision is None:
        raise ParseError(
            f"{source}: the file name must be a law id or {{law_id}}_{{yyyymmdd}}_{{amend}} revision id"
        )
    return ParsedDocument(
        doc_id=revision.law_id,
        kind=law_kind(revision.law_id),
        title=html_text(title_el),
        sections=_sections(root, source),
        law_num=html_text(law_num_el) if law_num_el is not None else "",
        revision_id=revision.revision_id,
        effective_date=revision.effective_date,
    )


# --------------------------------------------------------------------------- walker


@dataclass
class _Walk:
    out: SectionCollector
    path: list[str] = field(default_factory=list)
    levels: list[int] = field(default_factory=list)

    def set_title(self, level: int, title: str) -> None:
        while self.levels and self.levels[-1] >= level:
            self.levels.pop()
            self.path.pop()
        self.levels.append(level)
        self.path.append(title)

    def reset_path(self) -> None:
        self.path.clear()
        self.levels.clear()


def _sections(root: lxml.html.HtmlElement, source: str) -> tuple[ParsedSection, ...]:
    main = [s for s in root.iter("section") if _kind(s) == "MainProvision"]
    if not main:
        raise ParseError(f"{source}: no MainProvision section; not an e-Gov law page")
    if not any(_kind(s) in ("Article", "Paragraph") for s in main[0].iter("section")):
        raise ParseError(f"{source}: the MainProvision section has neither articles nor paragraphs")
    walk = _Walk(SectionCollector(source))
    container = main[0].getparent()
    _walk(container if container is not None else root, walk)
    return walk.out.finish()


def _kind(section: etree._Element) -> str:
    """Section type from its class ("active Sectiot" → "Section")."""
    tokens = [t for t in (section.get("class") or "").split() if t != "active"]
    if not tokens:
        return ""
    name = tokens[0]
    for kind in ("Subsection", "Section"):
        if name.startswith(kind[:-1]):
            return kind
    for kind in ("MainProvision", "SupplProvision", "Article", "Paragraph", "Appdx", "TOC", "Preamble"):
        if name.startswith(kind):
            return kind
    return name


def _child_sections(el: etree._Element) -> Iterator[etree._Element]:
    for child in el:
        if child.tag == "section":
            yield child
        elif isinstance(child.tag, str):
            yield from _child_sections(child)


def _walk(container: etree._Element, walk: _Walk) -> None:
    for section in _child_sections(container):
        kind = _kind(section)
        if kind in ("TOC", "EnactStatement"):
            continue
        if kind == "MainProvision":
            walk.reset_path()
            _walk(section, walk)
            walk.out.flush()
        elif kind == "SupplProvision":
            label = next((d for d in section if "_div_SupplProvisionLabel" in _classes(d)), None)
            match = _AMEND_LAW_NUM.search(html_text(label)) if label is not None else None
            walk.out.start_suppl(match.group(1) if match else "")
            walk.reset_path()
            _walk(section, walk)
            walk.out.flush()
        elif kind == "Article":
            _add_article(section, walk)
        elif kind == "Paragraph":
            _add_paragraphs(section, walk)
        elif kind == "Appdx":
            _add_appendix(section, walk)
        elif kind == "Preamble":
            walk.out.add_preamble([line for _, line, _ in _lines(section)])
        else:
            for div in section:
                level = next((_LEVEL_TITLES[c] for c in _classes(div) if c in _LEVEL_TITLES), None)
                if level is not None:
                    walk.set_title(level, html_text(div))
            _walk(section, walk)


def _add_article(section: etree._Element, walk: _Walk) -> None:
    caption, title = "", ""
    paragraphs: list[list[str]] = []
    paragraph_captions: list[str] = []
    for cls, line, div in _lines(section):
        if cls == "_div_ArticleCaption":
            caption = line
        elif cls == "_div_ArticleTitle":
            title_span = div.find("span")
            title = html_text(title_span) if title_span is not None else ""
            paragraphs.append([line[len(title) :].lstrip("　") if line.startswith(title) else line])
        elif cls == "_div_ParagraphCaption":
            paragraph_captions.append(line)
        elif cls == "_div_ParagraphSentence" or not paragraphs:
            paragraphs.append([line])
        else:
            paragraphs[-1].append(line)
    walk.out.add_article(
        title=title,
        num="",
        caption=caption,
        paragraphs=["\n".join(x for x in p if x) for p in paragraphs],
        paragraph_captions=paragraph_captions,
        path=tuple(walk.path),
    )


def _add_paragraphs(section: etree._Element, walk: _Walk) -> None:
    caption = ""
    lines: list[str] = []
    for cls, line, _ in _lines(section):
        if cls == "_div_ParagraphCaption":
            caption = line
        elif line:
            lines.append(line)
    walk.out.add_loose_paragraph("\n".join(lines), caption)


def _add_appendix(section: etree._Element, walk: _Walk) -> None:
    title, lines = "", []
    for cls, line, _ in _lines(section):
        if cls.endswith("Title") and cls.startswith("_div_Appdx") and not title:
            title = line
        elif line:
            lines.append(line)
    walk.out.add_appendix(title, lines)


# --------------------------------------------------------------------------- text


def _classes(el: etree._Element) -> list[str]:
    return (el.get("class") or "").split()


def _lines(section: etree._Element) -> Iterator[tuple[str, str, etree._Element]]:
    """(class, text, div) for each content div of a section; tables give one line per row."""
    for div in section:
        if div.tag != "div":
            continue
        classes = _classes(div)
        table = div.find(".//table")
        if table is not None and not any(c.startswith("_div_") for c in classes):
            for line in table_lines(table):
                yield "table", line, div
            continue
        cls = next((c for c in classes if c.startswith("_div_")), "")
        if cls:
            yield cls, html_text(div), div


def table_lines(table: etree._Element) -> list[str]:
    lines = []
    for row in table.iter("tr"):
        cells = []
        for cell in row:
            if cell.tag not in ("td", "th"):
                continue
            divs = [d for d in cell if d.tag == "div"]
            parts = [html_text(d, br=CELL_JOIN) for d in divs] if divs else [html_text(cell, br=CELL_JOIN)]
            cells.append(CELL_JOIN.join(p for p in parts if p))
        line = CELL_JOIN.join(c for c in cells if c)
        if line:
            lines.append(line)
    return lines


def html_text(el: etree._Element, br: str = "") -> str:
    """Text without ruby readings and without e-Gov's annotation boxes, layout whitespace removed.

    ``br`` replaces line breaks (used inside table cells, where items are split by ``<br>``).
    """
    return clean("".join(_iter_text(el, br)))


def _iter_text(el: etree._Element, br: str) -> Iterator[str]:
    if el.text:
        yield el.text
    for child in el:
        if child.tag == "br":
            yield br
        elif (
            isinstance(child.tag, str)
            and child.tag not in _SKIP_TAGS
            and not _SKIP_CLASSES.intersection(_classes(child))
        ):
            yield from _iter_text(child, br)
        if child.tail:
            yield child.tail
