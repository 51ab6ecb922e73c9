"""PDF notices (通知) → ParsedDocument, text via pdfminer.six (handles CJK CID fonts).

Sections start at the headings 通知 use: 記, 第1 / 第一, 1, （1）. A PDF without
such headings gets one section per page. Lines wrapped by the layout are
joined back: Japanese has no spaces between words, so a line that does not
end a sentence continues on the next one.
"""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from pdfminer.layout import LTTextContainer
from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
from pdfminer.pdfpage import PDFTextExtractionNotAllowed
from pdfminer.pdfparser import PDFParser, PDFSyntaxError
from pdfminer.psparser import PSEOF, PSException
from pdfminer.utils import decode_text

from knowledge.dates import iso_date
from knowledge.documents import DocKind, ParsedDocument, ParsedSection, ParseError
from knowledge.limits import Budget, LimitExceeded
from knowledge.numerals import KANJI_NUMBER_CHARS
from knowledge.parsers.notice_html import doc_id_for
from knowledge.parsers.pdf_bounds import bounded_pages
from knowledge.parsers.pdf_streams import check_decompressed_size, check_encrypted_streams

_NUM = rf"[0-9０-９{KANJI_NUMBER_CHARS}]+"
_HEADINGS: tuple[tuple[int, re.Pattern[str]], ...] = (
    (0, re.compile(r"^(記)$")),
    (1, re.compile(rf"^(第{_NUM})(?:[ 　]+(.*))?$")),
    (2, re.compile(r"^([0-9０-９]+)[ 　]+(.*)$")),
    (3, re.compile(rf"^([（(]{_NUM}[）)])[ 　]*(.*)$")),
)
_SENTENCE_END = ("。", "」", "）", ")", "：", ":", "記")
_TITLE_HINT = re.compile(r"について|通知|通達|依頼|要領|要綱|指針|事務連絡")
_ERA_DATE = re.compile(r"(明治|大正|昭和|平成|令和)\s*(元|[0-9]+)\s*年\s*([0-9]+)\s*月\s*([0-9]+)\s*日")
_ERA_START = {"明治": 1868, "大正": 1912, "昭和": 1926, "平成": 1989, "令和": 2019}
_CAPTION_MAX = 30


@dataclass
class _Open:
    label: str
    caption: str
    path: tuple[str, ...]
    lines: list[str] = field(default_factory=list)


def sniff(data: bytes, source: str) -> bool:
    suffix = PurePosixPath(urlsplit(source).path if "://" in source else source).suffix.lower()
    return data[:1024].lstrip().startswith(b"%PDF") or suffix == ".pdf"


def parse(data: bytes, source: str, budget: Budget | None = None) -> ParsedDocument:
    """``budget`` bounds decompressed size, characters per page and time (defaults: DEFAULT_LIMITS)."""
    if not data.strip():
        raise ParseError(f"{source}: empty input")
    if b"%PDF" not in data[:1024]:
        raise ParseError(f"{source}: not a PDF (no %PDF header in the first 1024 bytes)")
    meta_title, pages = _read(data, source, budget or Budget(source))
    if not any(line for page in pages for line in page):
        raise ParseError(
            f"{source}: no extractable text in {len(pages)} page(s) (image-only or scanned PDF? OCR it first)"
        )
    title = _title(pages[0]) or meta_title or _stem(source)
    sections = _by_headings(pages, title) or _by_pages(pages)
    return ParsedDocument(
        doc_id=doc_id_for(source, ""),
        kind=DocKind.CIRCULAR,
        title=title,
        sections=tuple(sections),
        effective_date=_date(pages[0]),
        url=source if source.startswith(("http://", "https://")) else "",
    )


def _read(data: bytes, source: str, budget: Budget) -> tuple[str, list[list[str]]]:
    """(metadata title, lines of each page)."""
    check_decompressed_size(data, budget)  # before pdfminer inflates anything
    try:
        with warnings.catch_warnings():
            # pdfminer reports recoverable damage as warnings; the checks below decide what fails.
            warnings.simplefilter("ignore")
            document = PDFDocument(PDFParser(io.BytesIO(data)))
            check_encrypted_streams(document, len(data), budget)
            meta_title = _meta_title(document)
            pages = [_page_lines(page) for page in bounded_pages(document, budget)]
    except LimitExceeded:
        raise
    except PDFPasswordIncorrect as exc:
        raise ParseError(f"{source}: encrypted PDF that needs a password") from exc
    except (PDFEncryptionError, PDFTextExtractionNotAllowed) as exc:
        raise ParseError(f"{source}: encrypted PDF whose text cannot be extracted ({exc})") from exc
    except (PDFSyntaxError, PSEOF, PSException, ValueError, KeyError, TypeError) as exc:
        raise ParseError(f"{source}: corrupt PDF ({type(exc).__name__}: {exc})") from exc
    if not pages:
        raise ParseError(f"{source}: corrupt PDF (no pages found)")
    return meta_title, pages


def _meta_title(document: PDFDocument) -> str:
    for info in document.info:
        value = info.get("Title")
        if isinstance(value, bytes):
            value = decode_text(value)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _page_lines(page: object) -> list[str]:
    lines: list[str] = []
    for element in page:  # type: ignore[attr-defined]
        if isinstance(element, LTTextContainer):
            for line in element.get_text().splitlines():
                cleaned = line.strip().replace("\x00", "")
                if cleaned:
                    lines.append(cleaned)
    return lines


def _stem(source: str) -> str:
    return PurePosixPath(urlsplit(source).path if "://" in source else source).stem


def _title(first_page: list[str]) -> str:
    for i, line in enumerate(first_page[:15]):
        if _TITLE_HINT.search(line) and not _heading(line) and not _ERA_DATE.search(line):
            title = line
            following = first_page[i + 1] if i + 1 < len(first_page) else ""
            if following.startswith(("（通知）", "(通知)", "について")):
                title += following
            return title
    return ""


def _date(first_page: list[str]) -> str:
    for line in first_page[:12]:
        match = _ERA_DATE.search(unicodedata.normalize("NFKC", line))
        if match:
            era, year, month, day = match.groups()
            y = _ERA_START[era] + (1 if year == "元" else int(year)) - 1
            if found := iso_date(y, int(month), int(day)):
                return found
    return ""


def _heading(line: str) -> tuple[int, str, str] | None:
    for level, pattern in _HEADINGS:
        match = pattern.match(line)
        if match:
            rest = match.group(2) if match.lastindex and match.lastindex >= 2 else ""
            return level, match.group(1), rest or ""
    return None


def _joined(lines: list[str]) -> str:
    """Join layout-wrapped lines: keep a break after a sentence end or a line shorter than a full one."""
    full = max((len(line) for line in lines), default=0) * 0.8
    out = ""
    previous = ""
    for line in lines:
        if previous and (previous.endswith(_SENTENCE_END) or len(previous) < full):
            out += "\n"
        out += line
        previous = line
    return out


def _by_headings(pages: list[list[str]], title: str) -> list[ParsedSection]:
    lines = [line for page in pages for line in page]
    if not any(_heading(line) for line in lines):
        return []
    sections: list[ParsedSection] = []
    preamble: list[str] = []
    stack: list[tuple[int, str]] = []
    current: _Open | None = None

    def close() -> None:
        if current is not None:
            n = len(sections) + 1
            text = _joined(current.lines) or current.caption
            sections.append(ParsedSection(f"s{n}", current.label, text, current.caption, current.path))

    for line in lines:
        heading = _heading(line)
        if heading is None:
            (current.lines if current is not None else preamble).append(line)
            continue
        level, label, rest = heading
        close()
        if level == 0:  # 記: what follows is the body
            current, stack = None, []
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        short = rest if len(rest) <= _CAPTION_MAX and "。" not in rest else ""
        current = _Open(label, short, tuple(text for _, text in stack), [] if short or not rest else [rest])
        stack.append((level, f"{label}　{short}" if short else label))
    close()
    body = [line for line in preamble if line != title]
    if body:
        sections.insert(0, ParsedSection("s0", "前文", _joined(body)))
    return sections


def _by_pages(pages: list[list[str]]) -> list[ParsedSection]:
    return [
        ParsedSection(f"p{n}", f"{n}ページ", _joined(lines))
        for n, lines in enumerate(pages, start=1)
        if lines
    ]
