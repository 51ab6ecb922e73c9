"""Explicit citations of a circular's numbered items: 「法基通1-1-1」「所得税基本通達183～193共－6」.

A 基本通達 is cited by its name (or the abbreviation tax practice uses: 法基通, 所基通, 消基通, 相基通;
``knowledge/data/circular_abbreviations.yaml``) followed by an item number (knowledge/parsers/notice_html.py
keys them: 1－1－4 → "1-1-4", 183～193共－6 → "183~193共-6"). The statute citation finder
(knowledge/citations.py) reads only 第…条; this reads the items. Pure functions over a
``CircularIndex`` built from the titles the knowledge base holds: one circular is often stored as many
documents (one per page of the 国税庁 site), all with its name as their title, so a name stands for every
one of them and the item is looked up in each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from knowledge.numerals import item_key
from knowledge.tokenize import normalize

CIRCULAR_ABBREVIATIONS = Path(__file__).resolve().parent / "data" / "circular_abbreviations.yaml"

_ITEM = r"(?:第|の)*(?P<item>[0-9]+(?:の[0-9]+)*(?:[・~\-][0-9]+(?:の[0-9]+)*)*共?(?:-[0-9]+(?:の[0-9]+)*)+)"
_COMMON = re.compile(r"^(?P<first>[0-9]+(?:の[0-9]+)*)-(?P<rest>[0-9]+(?:の[0-9]+)*共-.*)$")


@dataclass(frozen=True)
class CircularIndex:
    """Circular names (titles and their abbreviations, NFKC) → the stored documents titled so."""

    documents: Mapping[str, tuple[str, ...]]  # name → doc ids
    titles: Mapping[str, str]  # name → the circular's title
    cited: re.Pattern[str] | None = None  # a name (the longest first) followed by an item number

    @classmethod
    def from_titles(cls, pairs: Iterable[tuple[str, str]], abbreviations: Mapping[str, str]) -> CircularIndex:
        """From (title, doc_id) of the stored documents: those whose title names a 通達, and the
        abbreviations (abbreviation → title) of those titles."""
        by_title: dict[str, list[str]] = {}
        for title, doc_id in pairs:
            if "通達" in title:
                by_title.setdefault(title, []).append(doc_id)
        documents = {normalize(t): tuple(ids) for t, ids in by_title.items()}
        titles = {normalize(t): t for t in by_title}
        for abbreviation, title in abbreviations.items():
            if title in by_title:
                documents.setdefault(normalize(abbreviation), tuple(by_title[title]))
                titles.setdefault(normalize(abbreviation), title)
        names = "|".join(re.escape(name) for name in sorted(documents, key=len, reverse=True))
        return cls(documents, titles, re.compile(f"(?P<name>{names}){_ITEM}") if names else None)

    def names(self, title: str | None) -> bool:
        """Whether ``title`` is a circular's (a document cited by its items)."""
        return title is not None and normalize(title) in self.titles


@dataclass(frozen=True)
class ItemCitation:
    title: str  # the circular's title
    doc_ids: tuple[str, ...]  # the stored documents titled so: the item is in one of them
    keys: tuple[str, ...]  # the item as written, and as a range common to several articles when so meant


def find_items(question: str, index: CircularIndex) -> list[ItemCitation]:
    """Each circular name in ``question`` followed by an item number, left to right."""
    if index.cited is None:
        return []
    return [
        ItemCitation(index.titles[m["name"]], index.documents[m["name"]], _readings(m["item"]))
        for m in index.cited.finditer(item_key(question))
    ]


def _readings(written: str) -> tuple[str, ...]:
    """183-193共-6 is written for 183~193共-6 (a range of articles), as a hyphen is easier to type."""
    common = _COMMON.match(written)
    return (written, f"{common['first']}~{common['rest']}") if common else (written,)
