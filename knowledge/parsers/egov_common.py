"""Pieces shared by the e-Gov parsers (standard XML, API v2 JSON, API v2 HTML).

The three formats carry the same law structure; each parser extracts titles and
text lines its own way and hands them to ``SectionCollector``, which decides
keys, labels and how 附則 / 別表 blocks become sections. That keeps the keys
identical across formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from knowledge.dates import checked_iso_date
from knowledge.documents import DocKind, ParsedSection, ParseError, Part, kind_from_law_id
from knowledge.numerals import NUMBER_PATTERN, article_title_to_num

# 405AC0000000088, 504CO0000000187, 321CONSTITUTION, 324M50000008001, ...
LAW_ID_PATTERN = r"\d{3}[A-Z]+\d*"
_REVISION_NAME = re.compile(rf"^(?P<law_id>{LAW_ID_PATTERN})_(?P<date>\d{{8}})_(?P<amend>[0-9A-Z]+)$")
_LAW_ID_NAME = re.compile(rf"^(?P<law_id>{LAW_ID_PATTERN})$")

_SINGLE_TITLE = rf"第{NUMBER_PATTERN}条(?:の{NUMBER_PATTERN})*"
# 第三十八条から第八十四条まで / 第百十条及び第百十一条 / 第二十条乃至第七十三条 (deleted ranges)
_RANGE_TITLE = re.compile(
    rf"^(?P<first>{_SINGLE_TITLE})(?:から|及び|乃至|・)(?P<last>{_SINGLE_TITLE})(?:まで)?$"
)

SENTENCE_JOIN = ""  # sentences of one provision follow each other directly
COLUMN_JOIN = "　"  # columns (and title / text) are separated by a full-width space
CELL_JOIN = "　"  # table cells of one row


@dataclass(frozen=True)
class RevisionName:
    law_id: str
    revision_id: str = ""
    effective_date: str = ""


def source_stem(source: str) -> str:
    """File name without directory, query or extension ("a/b/405AC…_2024….xml?x=1" → "405AC…_2024…")."""
    path = urlsplit(source).path if "://" in source else source
    name = PurePosixPath(path.replace("\\", "/")).name
    return name.split(".", 1)[0] if "." in name else name


def law_kind(law_id: str) -> DocKind:
    """``kind_from_law_id``, except that 321CONSTITUTION is a law (its regex reads "CO" first)."""
    return DocKind.LAW if "CONSTITUTION" in law_id else kind_from_law_id(law_id)


def iso_date(yyyymmdd: str) -> str:
    """``20240401`` → ``2024-04-01``; "" for a day that does not exist."""
    return checked_iso_date(f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:8]}")


def revision_from_name(name: str) -> RevisionName | None:
    """Read ``{law_id}_{yyyymmdd}_{amend}`` (a law_revision_id) or a bare law id."""
    match = _REVISION_NAME.match(name)
    if match:
        return RevisionName(match["law_id"], name, iso_date(match["date"]))
    match = _LAW_ID_NAME.match(name)
    if match:
        return RevisionName(match["law_id"])
    return None


def article_key(title: str) -> str:
    """e-Gov Num for an article title; deleted ranges become "first:last" as e-Gov writes them."""
    title = title.strip()
    try:
        return article_title_to_num(title)
    except ValueError:
        pass
    match = _RANGE_TITLE.match(title)
    if match:
        return f"{article_title_to_num(match['first'])}:{article_title_to_num(match['last'])}"
    raise ValueError(f"not an article title: {title!r}")


_SPACE_RUN = re.compile(r"[\r\n\t]+")


def clean(text: str) -> str:
    """Drop layout whitespace (newlines, tabs, edge ASCII/no-break spaces); keep full-width spaces."""
    return _SPACE_RUN.sub("", text).strip(" \u00a0")


def suppl_label(amend_law_num: str) -> str:
    return f"附則（{amend_law_num}）" if amend_law_num else "附則"


@dataclass
class _Loose:
    """Paragraphs standing directly in a provision (no articles)."""

    captions: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)


@dataclass
class SectionCollector:
    """Turns articles, loose paragraphs and appendices into keyed ``ParsedSection``s."""

    source: str
    sections: list[ParsedSection] = field(default_factory=list)
    suppl_index: int = -1
    amend_law_num: str = ""
    appendix_index: int = 0
    _loose: _Loose = field(default_factory=_Loose)
    _keys: set[str] = field(default_factory=set)

    @property
    def part(self) -> Part:
        return Part.MAIN if self.suppl_index < 0 else Part.SUPPL

    def start_suppl(self, amend_law_num: str) -> None:
        self.flush()
        self.suppl_index += 1
        self.amend_law_num = amend_law_num

    def add_article(
        self,
        *,
        title: str,
        num: str,
        caption: str,
        paragraphs: list[str],
        paragraph_captions: list[str],
        path: tuple[str, ...],
    ) -> None:
        if not num:
            try:
                num = article_key(title)
            except ValueError as exc:
                raise ParseError(f"{self.source}: article title {title!r} has no e-Gov number") from exc
        if self.part is Part.MAIN:
            key, label = num, title
        else:
            key, label = f"suppl{self.suppl_index}_{num}", suppl_label(self.amend_law_num) + title
        self._add(
            key=key,
            label=label,
            caption=caption or "".join(dict.fromkeys(paragraph_captions)),
            paragraphs=paragraphs,
            path=path,
            part=self.part,
        )

    def add_loose_paragraph(self, text: str, caption: str = "") -> None:
        if caption:
            self._loose.captions.append(caption)
        self._loose.paragraphs.append(text)

    def add_appendix(self, label: str, lines: list[str], path: tuple[str, ...] = ()) -> None:
        self.flush()
        key = f"appdx{self.appendix_index}"
        self.appendix_index += 1
        self._add(key=key, label=label or key, caption="", paragraphs=lines, path=path, part=Part.APPENDIX)

    def add_preamble(self, paragraphs: list[str]) -> None:
        self._add(key="preamble", label="前文", caption="", paragraphs=paragraphs, path=(), part=Part.MAIN)

    def flush(self) -> None:
        """Emit the loose paragraphs of the current provision as one section."""
        loose, self._loose = self._loose, _Loose()
        if not loose.paragraphs:
            return
        if self.part is Part.MAIN:
            key, label = "main", "本則"
        else:
            key, label = f"suppl{self.suppl_index}", suppl_label(self.amend_law_num)
        self._add(
            key=key,
            label=label,
            caption="".join(dict.fromkeys(loose.captions)),
            paragraphs=loose.paragraphs,
            path=(),
            part=self.part,
        )

    def _add(
        self, *, key: str, label: str, caption: str, paragraphs: list[str], path: tuple[str, ...], part: Part
    ) -> None:
        unique, n = key, 1
        while unique in self._keys:  # e.g. a 附則 that repeats an article number
            n += 1
            unique = f"{key}#{n}"
        self._keys.add(unique)
        self.sections.append(
            ParsedSection(
                key=unique,
                label=label,
                text="\n".join(paragraphs),
                caption=caption,
                path=path,
                part=part,
                paragraphs=tuple(paragraphs),
            )
        )

    def finish(self) -> tuple[ParsedSection, ...]:
        self.flush()
        if not any(s.text.strip() for s in self.sections):
            raise ParseError(f"{self.source}: the law has no articles or paragraphs with text")
        return tuple(self.sections)
