"""e-Gov 法令標準XML (root ``<Law>``) and the API v2 ``law_data`` XML response → ``ParsedDocument``.

The walker (``law_sections`` / ``article_section``) works on any lxml element
tree with the standard tag names, so the JSON parser converts its tree and
reuses it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from lxml import etree

from knowledge.dates import checked_iso_date
from knowledge.documents import ParsedDocument, ParsedSection, ParseError
from knowledge.numerals import int_to_kanji
from knowledge.parsers.egov_common import (
    CELL_JOIN,
    COLUMN_JOIN,
    SENTENCE_JOIN,
    SectionCollector,
    clean,
    law_kind,
    revision_from_name,
    source_stem,
)

_LEVELS = ("Part", "Chapter", "Section", "Subsection", "Division")
_APPENDICES = (
    "AppdxTable",
    "AppdxNote",
    "AppdxStyle",
    "AppdxFormat",
    "AppdxFig",
    "Appdx",
    "SupplProvisionAppdxTable",
    "SupplProvisionAppdxStyle",
    "SupplProvisionAppdx",
)
_SENTENCE_CONTAINERS = re.compile(
    r"^(ParagraphSentence|ItemSentence|Subitem\d+Sentence|ListSentence|Sublist\d+Sentence)$"
)
_ITEMS = re.compile(r"^(Item|Subitem\d+)$")
_LISTS = re.compile(r"^(List|Sublist\d+)$")
_SKIP_TEXT = frozenset({"Rt", "Rp"})  # ruby readings
_ERA_CODES = {"Meiji": "1", "Taisho": "2", "Showa": "3", "Heisei": "4", "Reiwa": "5"}
_TYPE_CODES = {"Act": "AC", "CabinetOrder": "CO", "ImperialOrder": "IO"}


@dataclass(frozen=True)
class LawMeta:
    law_id: str = ""
    law_num: str = ""
    title: str = ""
    revision_id: str = ""
    effective_date: str = ""
    abbrev: tuple[str, ...] = ()


# --------------------------------------------------------------------------- entry points


def sniff(data: bytes, source: str) -> bool:
    """True for a 法令標準XML file or an API v2 law_data XML response."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"<"):
        return False
    return (b"<law_data_response" in head) or (re.search(rb"<Law[\s>]", head) is not None)


def parse(data: bytes, source: str) -> ParsedDocument:
    root = parse_xml(data, source)
    if root.tag == "law_data_response":
        law = root.find("law_full_text/Law")
        if law is None:
            raise ParseError(f"{source}: law_data_response has no law_full_text/Law element")
        info, revision = root.find("law_info"), root.find("revision_info")
        meta = meta_from_info(_children_text(info), _children_text(revision))
        return law_document(law, meta, source)
    if root.tag == "Law":
        return law_document(root, LawMeta(), source)
    raise ParseError(f"{source}: root element <{root.tag}> is neither <Law> nor <law_data_response>")


def parse_xml(data: bytes, source: str) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"{source}: malformed XML: {exc}") from exc


def meta_from_info(law_info: Mapping[str, str], revision_info: Mapping[str, str]) -> LawMeta:
    """Metadata from the API v2 ``law_info`` / ``revision_info`` blocks (XML or JSON)."""
    revision_id = revision_info.get("law_revision_id") or ""
    date = checked_iso_date(revision_info.get("amendment_enforcement_date") or "")
    if not date and (rev := revision_from_name(revision_id)):
        date = rev.effective_date
    abbrev = tuple(a.strip() for a in (revision_info.get("abbrev") or "").split(",") if a.strip())
    return LawMeta(
        law_id=law_info.get("law_id") or revision_info.get("law_id") or "",
        law_num=law_info.get("law_num") or "",
        title=revision_info.get("law_title") or "",
        revision_id=revision_id,
        effective_date=date,
        abbrev=abbrev,
    )


def law_document(law: etree._Element, meta: LawMeta, source: str) -> ParsedDocument:
    """Build the document from a ``<Law>`` element; ``meta`` (API metadata) wins over file-name data."""
    body = law.find("LawBody")
    if body is None:
        raise ParseError(f"{source}: <Law> has no <LawBody>")
    title_el = body.find("LawTitle")
    title = text_of(title_el) if title_el is not None else ""
    law_num = text_of(law.find("LawNum")) if law.find("LawNum") is not None else ""
    abbrev_attr = title_el.get("Abbrev", "") if title_el is not None else ""
    abbrev = tuple(a.strip() for a in abbrev_attr.split(",") if a.strip()) or meta.abbrev

    from_name = revision_from_name(source_stem(source))
    law_id = meta.law_id or (from_name.law_id if from_name else "") or law_id_from_attributes(law, source)
    revision_id = meta.revision_id or (from_name.revision_id if from_name else "")
    effective_date = meta.effective_date or (from_name.effective_date if from_name else "")
    return ParsedDocument(
        doc_id=law_id,
        kind=law_kind(law_id),
        title=title or meta.title,
        sections=law_sections(law, source),
        law_num=law_num or meta.law_num,
        revision_id=revision_id,
        effective_date=effective_date,
        abbrev=abbrev,
    )


def law_id_from_attributes(law: etree._Element, source: str) -> str:
    """Rebuild the law id from ``<Law Era Year LawType Num>`` when the file name does not carry it.

    Only acts, cabinet and imperial orders and the constitution can be rebuilt; the
    10-digit serial assumes a cabinet bill (member bills use another prefix).
    """
    era, year, law_type, num = (law.get(a, "") for a in ("Era", "Year", "LawType", "Num"))
    if law_type == "Constitution" and era in _ERA_CODES and year.isdigit():
        return f"{_ERA_CODES[era]}{int(year):02d}CONSTITUTION"
    if era in _ERA_CODES and law_type in _TYPE_CODES and year.isdigit() and num.isdigit():
        return f"{_ERA_CODES[era]}{int(year):02d}{_TYPE_CODES[law_type]}{int(num):010d}"
    raise ParseError(
        f"{source}: cannot determine the law id (no id in the file name, <Law Era={era!r} "
        f"LawType={law_type!r} Num={num!r}> cannot be mapped)"
    )


# --------------------------------------------------------------------------- structure walker


def law_sections(law: etree._Element, source: str) -> tuple[ParsedSection, ...]:
    """All sections of a ``<Law>``: 前文, 本則 articles, 附則 blocks, 別表."""
    body = law.find("LawBody")
    if body is None:
        raise ParseError(f"{source}: <Law> has no <LawBody>")
    main = body.find("MainProvision")
    if main is None:
        raise ParseError(f"{source}: <LawBody> has no <MainProvision>")
    if main.find(".//Article") is None and main.find(".//Paragraph") is None:
        raise ParseError(f"{source}: <MainProvision> has neither articles nor paragraphs")
    out = SectionCollector(source)
    preamble = body.find("Preamble")
    if preamble is not None:
        out.add_preamble([paragraph_text(p, in_article=False) for p in preamble.iter("Paragraph")])
    _walk(main, out, ())
    for child in body:
        if child.tag == "SupplProvision":
            out.start_suppl(child.get("AmendLawNum", ""))
            _walk(child, out, ())
        elif child.tag in _APPENDICES:
            _add_appendix(child, out)
    return out.finish()


def _walk(container: etree._Element, out: SectionCollector, path: tuple[str, ...]) -> None:
    for child in container:
        tag = child.tag
        if tag in _LEVELS:
            title_el = child.find(f"{tag}Title")
            title = text_of(title_el) if title_el is not None else ""
            _walk(child, out, (*path, title) if title else path)
        elif tag == "Article":
            _add_article(child, out, path)
        elif tag == "Paragraph":
            caption = child.find("ParagraphCaption")
            out.add_loose_paragraph(
                paragraph_text(child, in_article=False), text_of(caption) if caption is not None else ""
            )
        elif tag in _APPENDICES:
            _add_appendix(child, out)


def _add_article(article: etree._Element, out: SectionCollector, path: tuple[str, ...]) -> None:
    title_el = article.find("ArticleTitle")
    caption_el = article.find("ArticleCaption")
    paragraphs = article.findall("Paragraph")
    out.add_article(
        title=text_of(title_el) if title_el is not None else "",
        num=article.get("Num", ""),
        caption=text_of(caption_el) if caption_el is not None else "",
        paragraphs=[paragraph_text(p, in_article=True, first=i == 0) for i, p in enumerate(paragraphs)],
        paragraph_captions=[text_of(c) for p in paragraphs if (c := p.find("ParagraphCaption")) is not None],
        path=path,
    )


def article_section(article: etree._Element, source: str = "") -> ParsedSection:
    """One ``<Article>`` as a main-provision section (used for fragments such as a JSON Article node)."""
    if article.tag != "Article":
        raise ParseError(f"{source}: expected <Article>, got <{article.tag}>")
    out = SectionCollector(source)
    _add_article(article, out, ())
    return out.finish()[0]


def _add_appendix(el: etree._Element, out: SectionCollector) -> None:
    title = ""
    lines: list[str] = []
    for child in el:
        if child.tag.endswith("Title") and not title:
            title = text_of(child)
        elif child.tag == "RelatedArticleNum":
            title += text_of(child)
        else:
            lines.extend(block_lines(child))
    out.add_appendix(title or int_to_kanji(out.appendix_index + 1), [line for line in lines if line])


# --------------------------------------------------------------------------- text


def text_of(el: etree._Element) -> str:
    """Text of an element without ruby readings, layout whitespace removed."""
    return clean("".join(_iter_text(el)))


def _iter_text(el: etree._Element) -> Iterator[str]:
    if el.text:
        yield el.text
    for child in el:
        if isinstance(child.tag, str) and child.tag not in _SKIP_TEXT:
            yield from _iter_text(child)
        if child.tail:
            yield child.tail


def sentence_text(container: etree._Element) -> str:
    """Text of a ParagraphSentence / ItemSentence…: sentences joined, columns separated by a space."""
    columns = container.findall("Column")
    if columns:
        return COLUMN_JOIN.join(sentence_text(c) for c in columns)
    parts: list[str] = []
    for child in container:
        if child.tag == "Sentence":
            parts.append(text_of(child))
        elif child.tag == "Table":
            parts.append(CELL_JOIN.join(table_lines(child)))
    return SENTENCE_JOIN.join(parts)


def paragraph_text(paragraph: etree._Element, *, in_article: bool, first: bool = False) -> str:
    """A paragraph with its items as lines; paragraph 1 of an article carries no number."""
    num_el = paragraph.find("ParagraphNum")
    num = text_of(num_el) if num_el is not None and not (in_article and first) else ""
    sentence_el = paragraph.find("ParagraphSentence")
    sentence = sentence_text(sentence_el) if sentence_el is not None else ""
    head = f"{num}{COLUMN_JOIN}{sentence}" if num and sentence else num or sentence
    lines = [head]
    for child in paragraph:
        if child.tag not in ("ParagraphCaption", "ParagraphNum", "ParagraphSentence"):
            lines.extend(block_lines(child))
    return "\n".join(line for line in lines if line)


def block_lines(el: etree._Element) -> list[str]:
    """Lines of an item, list, table, remark or amendment inside a paragraph or appendix."""
    tag = el.tag
    if not isinstance(tag, str):
        return []
    if _ITEMS.match(tag):
        return _titled_lines(el, f"{tag}Title", f"{tag}Sentence")
    if _LISTS.match(tag):
        lines = [sentence_text(s) for s in el if _SENTENCE_CONTAINERS.match(s.tag)]
        for child in el:
            if not _SENTENCE_CONTAINERS.match(child.tag):
                lines.extend(block_lines(child))
        return lines
    if tag == "Table":
        return table_lines(el)
    if tag == "Paragraph":
        return [paragraph_text(el, in_article=False)]
    if tag == "Sentence" or tag.endswith("Title") or tag.endswith("Label") or tag.endswith("Caption"):
        return [text_of(el)]
    if _SENTENCE_CONTAINERS.match(tag) or tag == "AmendProvisionSentence":
        return [sentence_text(el)]
    if tag in ("Fig", "ArithFormulaNum"):
        return []
    nested: list[str] = []
    for child in el:  # TableStruct, Remarks, AmendProvision, NewProvision, StyleStruct, ...
        nested.extend(block_lines(child))
    return nested


def _titled_lines(el: etree._Element, title_tag: str, sentence_tag: str) -> list[str]:
    title_el, sentence_el = el.find(title_tag), el.find(sentence_tag)
    title = text_of(title_el) if title_el is not None else ""
    sentence = sentence_text(sentence_el) if sentence_el is not None else ""
    lines = [f"{title}{COLUMN_JOIN}{sentence}" if title and sentence else title or sentence]
    for child in el:
        if child.tag not in (title_tag, sentence_tag):
            lines.extend(block_lines(child))
    return lines


def table_lines(table: etree._Element) -> list[str]:
    """One line per table row, non-empty cells separated by a full-width space."""
    lines = []
    for row in table:
        if row.tag not in ("TableRow", "TableHeaderRow"):
            continue
        cells = [_cell_text(cell) for cell in row]
        line = CELL_JOIN.join(c for c in cells if c)
        if line:
            lines.append(line)
    return lines


def _cell_text(cell: etree._Element) -> str:
    """Sentences and items of a cell, separated by a full-width space (e-Gov breaks the line there)."""
    if cell.tag == "TableHeaderColumn":
        return text_of(cell)
    parts: list[str] = []
    for child in cell:
        parts.extend([text_of(child)] if child.tag == "Sentence" else block_lines(child))
    return CELL_JOIN.join(p for p in parts if p)


def _children_text(el: etree._Element | None) -> dict[str, str]:
    if el is None:
        return {}
    return {child.tag: (child.text or "").strip() for child in el if isinstance(child.tag, str)}


__all__ = [
    "LawMeta",
    "article_section",
    "law_document",
    "law_sections",
    "meta_from_info",
    "parse",
    "parse_xml",
    "sniff",
]
