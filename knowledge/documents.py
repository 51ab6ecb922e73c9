"""What parsers produce: a document split into article-level sections.

Parsers are pure: bytes in, ``ParsedDocument`` out, or ``ParseError``. Turning
sections into stored chunks (ids, URLs, hashes, collections) is the ingest
step's job, so every parser stays small.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

EGOV_LAW_URL = "https://laws.e-gov.go.jp/law/{law_id}"
DEFAULT_COLLECTION = "laws"  # public laws; tenants' own documents go into collections of their own


class DocKind(StrEnum):
    LAW = "law"
    CABINET_ORDER = "cabinet_order"
    MINISTERIAL_ORDINANCE = "ministerial_ordinance"
    CIRCULAR = "circular"
    GAZETTE = "gazette"
    QA = "qa"
    DOCUMENT = "document"


class Part(StrEnum):
    """Where in a document a section stands."""

    MAIN = "main"  # 本則 (or the body of a non-law document)
    SUPPL = "suppl"  # 附則
    APPENDIX = "appendix"  # 別表 / 別記 / 様式
    CONTENTS = "contents"  # a table of contents, or a list of links to other pages


class ParseError(ValueError):
    """A file that cannot be turned into a document; the message says why."""


@dataclass(frozen=True)
class ParsedSection:
    """One article-level unit: an article, a circular's numbered item, a Q&A pair.

    ``key`` is unique within the document. For law articles it is e-Gov's Num
    form ("238_4"); for 附則 articles ``suppl{k}_{Num}`` where k counts the 附則
    blocks from 0 (the original enactment); for 別表 ``appdx{k}``. Other documents
    use their own numbering ("5-1-1", "q12", "s3").
    """

    key: str
    label: str  # as printed: 第二百三十八条の四, 附則第一条, 別表第一, 5－1－1, Q12
    text: str  # paragraphs and items joined with "\n", as printed (not normalised)
    caption: str = ""  # 見出し such as （行政財産の管理及び処分）
    path: tuple[str, ...] = ()  # chapter / section titles above it
    part: Part = Part.MAIN
    paragraphs: tuple[str, ...] = ()  # paragraph texts, paragraph 1 first (laws only)


@dataclass(frozen=True)
class ParsedDocument:
    doc_id: str  # law_id for laws; a stable id derived from URL or file name otherwise
    kind: DocKind
    title: str
    sections: tuple[ParsedSection, ...]
    law_num: str = ""  # 昭和二十二年法律第六十七号
    revision_id: str = ""  # e-Gov law_revision_id when known
    effective_date: str = ""  # ISO date when known
    url: str = ""  # page URL for non-law documents; laws link per article
    abbrev: tuple[str, ...] = field(default=())  # abbreviations the source declares (行手法)


_LAW_ID = re.compile(r"^\d{3}(CONSTITUTION|AC|CO|M|IO|DF)")


def kind_from_law_id(law_id: str) -> DocKind:
    """e-Gov law ids encode the type: 322AC… act, 322CO… cabinet order, 324M… ministerial ordinance."""
    match = _LAW_ID.match(law_id)
    if not match:
        return DocKind.LAW
    code = match.group(1)
    if code == "CO":
        return DocKind.CABINET_ORDER
    if code == "M":
        return DocKind.MINISTERIAL_ORDINANCE
    return DocKind.LAW


def law_article_url(law_id: str, key: str, part: Part = Part.MAIN) -> str:
    """Deep link to an article on e-Gov; 附則 and 別表 link to the law page."""
    base = EGOV_LAW_URL.format(law_id=law_id)
    if part is Part.MAIN and re.fullmatch(r"\d+(_\d+)*", key):
        return f"{base}#Mp-At_{key}"
    return base
