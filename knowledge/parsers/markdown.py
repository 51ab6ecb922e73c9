"""Markdown and plain text → ParsedDocument.

Special case: law Markdown converted from e-Gov XML (file name = law id, ``# 法令名``,
``*（平成二十五年法律第二十七号）*``, then ``<a id="第一条"></a>`` + ``**第一条**`` article
blocks). That converter drops 項/号 numbers and headings, and it also turns a
sentence that merely starts with an article reference ("第四条又は…") into an
anchor. Real article anchors are the ones that open a block (a blank line
before them); the others are kept as text. 附則 have no heading either: a new
附則 block starts where article numbering goes back (usually to 第一条).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from knowledge.documents import DocKind, ParsedDocument, ParsedSection, ParseError, Part, kind_from_law_id
from knowledge.numerals import KANJI_NUMBER_CHARS, article_title_to_num
from knowledge.parsers.charset import decode_text
from knowledge.parsers.notice_html import doc_id_for

CHUNK_CHARS = 1500
SUFFIXES = frozenset({".md", ".markdown", ".txt", ".text"})

_LAW_ID = re.compile(r"^\d{3}(?:AC|CO|M|IO|DF|CONSTITUTION)\w*$")
_ANCHOR = re.compile(r'^<a id="(第[^"]+条[^"]*)"></a>\s*$')
_BOLD_TITLE = re.compile(r"^\*\*(第[^*]+)\*\*(.*)$")
_BRANCH_SUFFIX = re.compile(rf"^((?:の[{KANJI_NUMBER_CHARS}]+)+)(.*)$")
_RANGE_SUFFIX = re.compile(
    rf"^(?:から|及び)第[{KANJI_NUMBER_CHARS}]+条(?:の[{KANJI_NUMBER_CHARS}]+)*(?:まで)?$"
)
_LAW_NUM = re.compile(r"^\*[（(](.+?)[）)]\*$")
_CAPTION = re.compile(r"^[（(][^（）()]+[）)]$")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_NUM = rf"[{KANJI_NUMBER_CHARS}0-9０-９]+"
# 第二章　審査請求 is a heading; "## 第二章（…）の規定は、…準用する。" is a sentence the converter mangled.
_STRUCT = re.compile(rf"^第{_NUM}([編章節款目])(?:の{_NUM})*[ 　]+[^。]{{1,40}}$")
_STRUCT_LEVEL = {"編": 1, "章": 2, "節": 3, "款": 4, "目": 5}
_SUPPL = re.compile(r"^附\s*則")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_BACKREF_HEADING = "この法令を参照している法令"
_NUMBERED_HEADING = re.compile(rf"^(?:第{_NUM}[編章節款条項]?|[0-9０-９]+[.．、 　]|[（(]{_NUM}[)）])")


def sniff(data: bytes, source: str) -> bool:
    return _suffix(source) in SUFFIXES


def parse(data: bytes, source: str) -> ParsedDocument:
    text = _decoded(data, source)
    stem = _stem(source)
    if _LAW_ID.match(stem) and any(_ANCHOR.match(line) for line in text.splitlines()):
        return parse_law_markdown(text, stem)
    return _parse_document(text, source)


def parse_document(data: bytes, source: str) -> ParsedDocument:
    """Markdown or text as an ordinary document, never as law Markdown (sources that bring no statutes)."""
    return _parse_document(_decoded(data, source), source)


def _decoded(data: bytes, source: str) -> str:
    if not data.strip():
        raise ParseError(f"{source}: empty input")
    text = decode_text(data)
    if not text.strip():
        raise ParseError(f"{source}: no text content")
    return text


def _parse_document(text: str, source: str) -> ParsedDocument:
    if _suffix(source) in {".md", ".markdown"}:
        return _parse_generic(text, source)
    return _parse_plain(text, source)


def _suffix(source: str) -> str:
    return PurePosixPath(urlsplit(source).path if "://" in source else source).suffix.lower()


def _stem(source: str) -> str:
    return PurePosixPath(urlsplit(source).path if "://" in source else source).stem


def _inline(line: str) -> str:
    """Markdown links become their text; emphasis markers are dropped."""
    line = _LINK.sub(r"\1", line)
    return line.replace("**", "").strip()


# ---------------------------------------------------------------- law Markdown


@dataclass
class _Article:
    key: str
    label: str
    part: Part
    path: tuple[str, ...]
    caption: str = ""
    lines: list[str] = field(default_factory=list)


@dataclass
class _LawState:
    articles: list[_Article] = field(default_factory=list)
    preamble: list[str] = field(default_factory=list)
    path: list[tuple[int, str]] = field(default_factory=list)
    suppl: int = -1  # index of the current 附則 block, -1 while in the main provisions
    last_num: tuple[int, ...] = ()
    pending_caption: str = ""

    def add_line(self, line: str) -> None:
        if self.pending_caption:
            self._append(self.pending_caption)
            self.pending_caption = ""
        self._append(line)

    def _append(self, line: str) -> None:
        if self.articles:
            self.articles[-1].lines.append(line)
        else:
            self.preamble.append(line)

    def start_suppl(self) -> None:
        self.suppl += 1
        self.last_num = ()
        self.path = []

    def start_article(self, title: str, label_title: str) -> None:
        num = article_title_to_num(title)
        value = tuple(int(p) for p in num.split("_"))
        if self.last_num and value <= self.last_num:
            self.start_suppl()
        self.last_num = value
        part = Part.MAIN if self.suppl < 0 else Part.SUPPL
        key = num if part is Part.MAIN else f"suppl{self.suppl}_{num}"
        label = label_title if part is Part.MAIN else f"附則{label_title}"
        path = tuple(text for _, text in self.path)
        self.articles.append(_Article(key, label, part, path, caption=self.pending_caption))
        self.pending_caption = ""


def parse_law_markdown(text: str, law_id: str) -> ParsedDocument:
    """Parse the e-Gov-derived law Markdown; ``law_id`` is the file stem."""
    lines = text.splitlines()
    title = ""
    law_num = ""
    state = _LawState()
    for i, raw in enumerate(lines):
        line = raw.strip()
        previous_blank = i == 0 or not lines[i - 1].strip()
        heading = _MD_HEADING.match(line)
        if heading and heading.group(2) == _BACKREF_HEADING:
            break
        if not line or line == "---":
            continue
        if heading and len(heading.group(1)) == 1 and not title:
            title = _inline(heading.group(2))
            continue
        if not law_num and not state.articles and (m := _LAW_NUM.match(line)):
            law_num = m.group(1)
            continue
        anchor = _ANCHOR.match(line)
        if anchor:
            following = lines[i + 1].strip() if i + 1 < len(lines) else ""
            bold = _BOLD_TITLE.match(following)
            if previous_blank and bold and bold.group(1) == anchor.group(1):
                _open_article(state, bold.group(1), bold.group(2))
            continue  # an anchor inside running text: its bold line follows as text
        if i > 0 and _ANCHOR.match(lines[i - 1].strip()) and _is_article_title_line(lines, i):
            continue  # the **第一条** line already consumed by _open_article
        if heading:
            _law_heading(state, _inline(heading.group(2)))
            continue
        if _CAPTION.match(line) and previous_blank:
            state.pending_caption = line
            continue
        state.add_line(_inline(line))
    if state.pending_caption:
        state.add_line("")
    if not state.articles:
        raise ParseError(f'{law_id}: law Markdown without any article block (<a id="第…条"> + **第…条**)')
    sections = [
        ParsedSection(
            key=a.key,
            label=a.label,
            text="\n".join(line for line in a.lines if line),
            caption=a.caption,
            path=a.path,
            part=a.part,
        )
        for a in state.articles
    ]
    if state.preamble:
        sections.insert(0, ParsedSection(key="preamble", label="前文", text="\n".join(state.preamble)))
    return ParsedDocument(
        doc_id=law_id,
        kind=kind_from_law_id(law_id),
        title=title or law_id,
        sections=tuple(sections),
        law_num=law_num,
    )


def _is_article_title_line(lines: list[str], i: int) -> bool:
    """Whether line ``i`` is the bold title that _open_article consumed for the anchor above it."""
    anchor = _ANCHOR.match(lines[i - 1].strip())
    bold = _BOLD_TITLE.match(lines[i].strip())
    previous_blank = i < 2 or not lines[i - 2].strip()
    return bool(anchor and bold and previous_blank and bold.group(1) == anchor.group(1))


def _open_article(state: _LawState, bold: str, rest: str) -> None:
    title, label, first_line = bold, bold, ""
    branch = _BRANCH_SUFFIX.match(rest)
    if branch:  # **第百一条の二**の二: the anchor id lost the last branch number
        title = label = bold + branch.group(1)
        rest = branch.group(2)
    if _RANGE_SUFFIX.match(rest):  # **第百五十三条**から第百六十条まで (削除)
        label = title + rest
    elif rest:
        first_line = _inline(rest)
    state.start_article(title, label)
    if first_line:
        state.add_line(first_line)


def _law_heading(state: _LawState, text: str) -> None:
    if _SUPPL.match(text):
        state.start_suppl()
        return
    struct = _STRUCT.match(text)
    if not struct:
        state.add_line(text)  # the converter renders some sentences as headings
        return
    level = _STRUCT_LEVEL[struct.group(1)]
    while state.path and state.path[-1][0] >= level:
        state.path.pop()
    state.path.append((level, text))


# ---------------------------------------------------------------- generic Markdown / text


def _parse_generic(text: str, source: str) -> ParsedDocument:
    title = ""
    stack: list[tuple[int, str]] = []
    sections: list[ParsedSection] = []
    current: tuple[str, tuple[str, ...]] | None = None
    lines: list[str] = []
    preamble: list[str] = []
    in_fence = False

    def close() -> None:
        if current is not None and any(line.strip() for line in lines):
            n = len(sections) + 1
            sections.append(ParsedSection(key=f"s{n}", label=current[0], text=_join(lines), path=current[1]))

    for raw in text.splitlines():
        if raw.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        heading = None if in_fence else _MD_HEADING.match(raw.strip())
        if heading:
            level, heading_text = len(heading.group(1)), _inline(heading.group(2))
            if not title and level == 1 and not sections and current is None:
                title = heading_text
                continue
            close()
            while stack and stack[-1][0] >= level:
                stack.pop()
            current = (heading_text, tuple(t for _, t in stack))
            stack.append((level, heading_text))
            lines = []
        elif current is None:
            preamble.append(_LINK.sub(r"\1", raw))
        else:
            lines.append(_LINK.sub(r"\1", raw))
    close()
    if not sections:
        return _chunked(preamble, title or _stem(source), source)
    if any(line.strip() for line in preamble):
        sections.insert(0, ParsedSection(key="s0", label="前文", text=_join(preamble)))
    return ParsedDocument(
        doc_id=doc_id_for(source, ""),
        kind=DocKind.DOCUMENT,
        title=title or _stem(source),
        sections=tuple(sections),
    )


def _parse_plain(text: str, source: str) -> ParsedDocument:
    blocks = [b.strip("\n") for b in re.split(r"\n[ \t　]*\n", text.replace("\r\n", "\n")) if b.strip()]
    title = _stem(source)
    first = blocks[0].strip() if blocks else ""
    if "\n" not in first and len(first) <= 60 and not _NUMBERED_HEADING.match(first):
        title = first
        blocks = blocks[1:]
    headed = [b for b in blocks if _is_plain_heading(b)]
    if not headed:
        return _chunked(blocks, title, source)
    sections: list[ParsedSection] = []
    preamble: list[str] = []
    label: str | None = None
    body: list[str] = []

    def close() -> None:
        if label is not None:
            n = len(sections) + 1
            sections.append(ParsedSection(key=f"s{n}", label=label, text=_join(body) or label))

    for block in blocks:
        if _is_plain_heading(block):
            close()
            label, body = block.strip(), []
        elif label is None:
            preamble.append(block)
        else:
            body.append(block)
    close()
    if preamble:
        sections.insert(0, ParsedSection(key="s0", label="前文", text=_join(preamble)))
    return ParsedDocument(
        doc_id=doc_id_for(source, ""), kind=DocKind.DOCUMENT, title=title, sections=tuple(sections)
    )


def _is_plain_heading(block: str) -> bool:
    line = block.strip()
    return "\n" not in line and len(line) <= 40 and bool(_NUMBERED_HEADING.match(line))


def _chunked(blocks: list[str], title: str, source: str) -> ParsedDocument:
    sections: list[ParsedSection] = []
    current: list[str] = []
    size = 0
    for block in (b for b in blocks if b.strip()):
        if current and size + len(block) > CHUNK_CHARS:
            sections.append(
                ParsedSection(key=f"s{len(sections) + 1}", label=f"s{len(sections) + 1}", text=_join(current))
            )
            current, size = [], 0
        current.append(block)
        size += len(block)
    if current:
        sections.append(
            ParsedSection(key=f"s{len(sections) + 1}", label=f"s{len(sections) + 1}", text=_join(current))
        )
    if not sections:
        raise ParseError(f"{source}: no text content besides the title")
    return ParsedDocument(
        doc_id=doc_id_for(source, ""), kind=DocKind.DOCUMENT, title=title, sections=tuple(sections)
    )


def _join(lines: list[str]) -> str:
    return "\n".join(line.rstrip() for line in lines).strip("\n")
