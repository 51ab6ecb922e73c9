"""Circular / notice (通達・通知) HTML pages → ParsedDocument.

Works on any ministry page, with the 国税庁 法令解釈通達 layout as the
best-supported case: ``<h2>（見出し）</h2>`` captions followed by
``<p class="indent1"><strong>5－1－1</strong> text</p>`` numbered items.

Splitting, in order of preference:
1. numbered items (a paragraph that opens with a bold number such as 5－1－1);
2. headings (h2–h6, or a bold/heading line that is only a （caption）);
3. chunks of about ``CHUNK_CHARS`` characters of paragraphs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import lxml.html
from lxml import etree

from knowledge.dates import iso_date
from knowledge.documents import DocKind, ParsedDocument, ParsedSection, ParseError, Part
from knowledge.numerals import item_key
from knowledge.parsers.charset import decode_html

CHUNK_CHARS = 1500
# A section with at least this share of its characters in links lists other pages. On the 国税庁's pages the
# tables of contents and lists of circulars read 0.43-1.0 (their headings and dates are not links), and the
# sections of content 0.13 at most (a reference to another page in a sentence).
CONTENTS_SHARE = 0.3

_CONTENT_IDS = ("bodyArea", "contents", "content", "main", "main-content", "mainContents", "maincontents")
_SKIP_TAGS = {"script", "style", "noscript", "nav", "header", "footer", "form", "button", "iframe"}
_SKIP_IDS = {"header", "footer", "cntPDFarea", "breadcrumb", "topicpath", "sidebar", "side", "navi"}
_SKIP_CLASSES = {"breadcrumb", "skip", "page-top-link", "right-menu", "sidenavi", "topicpath", "pagetop"}
_BLOCK_TAGS = {
    "p", "div", "ul", "ol", "li", "dl", "dt", "dd", "table", "tr", "thead", "tbody", "tfoot",
    "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "main", "blockquote", "pre", "hr",
    "center", "aside", "figure", "caption",
}  # fmt: skip
_HEADINGS = {"h1": 6, "h2": 7, "h3": 8, "h4": 9, "h5": 10, "h6": 11}
_STRUCT_LEVEL = {"編": 1, "章": 2, "節": 3, "款": 4, "目": 5}

_KANJI_NUM = "〇一二三四五六七八九十百千"
_STRUCT = re.compile(
    rf"^第[0-9０-９{_KANJI_NUM}]+([編章節款目])(?:の[0-9０-９{_KANJI_NUM}]+)*(?![のにでをはがとも])"
)
_CAPTION = re.compile(r"^[（(][^（）()]*(?:[（(][^（）()]*[）)][^（）()]*)*[）)]$")
_ITEM_NUMBER = re.compile(r"^[0-9]+(?:の[0-9]+)*(?:[・~][0-9]+(?:の[0-9]+)*)*共?(?:-[0-9]+(?:の[0-9]+)*)+$")
_ERA_DATE = re.compile(r"(明治|大正|昭和|平成|令和)\s*(元|[0-9]+)\s*年\s*([0-9]+)\s*月\s*([0-9]+)\s*日")
_ERA_START = {"明治": 1868, "大正": 1912, "昭和": 1926, "平成": 1989, "令和": 2019}
_SITE_SUFFIX = re.compile(r"\s*[｜|:：\-－–]\s*[^｜|:：\-－–]{1,40}$")
_CRAWLED_NAME = re.compile(r"^((?:[a-z0-9-]+\.)+[a-z]{2,})_(.+)$")


@dataclass
class _Block:
    kind: str  # heading | struct | caption | item | para
    text: str
    level: int = 0
    label: str = ""
    right: bool = False
    linked: int = 0  # how many of its characters are the text of links (``_visible_chars``)


@dataclass
class _Open:
    key: str
    label: str
    caption: str
    path: tuple[str, ...]
    lines: list[str] = field(default_factory=list)
    linked: int = 0

    def add(self, block: _Block) -> None:
        self.lines.append(block.text)
        self.linked += block.linked


def sniff(data: bytes, source: str) -> bool:
    """True for HTML pages (by extension or by an html/body tag near the start)."""
    suffix = PurePosixPath(urlsplit(source).path).suffix.lower()
    if suffix in {".htm", ".html", ".xhtml", ".shtml"}:
        return True
    head = data[:2048].lower()
    return b"<html" in head or b"<!doctype html" in head


def parse(data: bytes, source: str) -> ParsedDocument:
    if not data.strip():
        raise ParseError(f"{source}: empty input")
    text = decode_html(data)
    try:
        root = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError) as exc:
        raise ParseError(f"{source}: not parseable as HTML: {exc}") from exc
    etree.strip_elements(root, etree.Comment, with_tail=False)
    container = _content_container(root)
    blocks = _blocks(container)
    if not any(b.text for b in blocks):
        raise ParseError(f"{source}: no text content in <{container.tag}> of the page")
    url = page_url(root, source)
    page_title = _title(root, blocks, source)
    series = series_title(url)
    # A page of a circular published over many pages is cited by the circular's name (法人税基本通達
    # 1－1－4); its own heading (第1節　納税地及び納税義務) stays in each section's path.
    title = series if series and series not in page_title else page_title
    sections = _sections(blocks, title)
    if not sections:
        raise ParseError(f"{source}: page has headings but no text content")
    return ParsedDocument(
        doc_id=doc_id_for(source, url),
        kind=DocKind.CIRCULAR,
        title=title,
        sections=tuple(sections),
        effective_date=_effective_date(blocks),
        url=url,
    )


# ---------------------------------------------------------------- content area


def _content_container(root: etree._Element) -> etree._Element:
    for ident in _CONTENT_IDS:
        found = root.xpath(f'//*[@id="{ident}"]')
        if found and _text_len(found[0]) > 0:
            return found[0]
    for tag in ("main", "article"):
        found = root.xpath(f"//{tag}")
        if found and _text_len(found[0]) > 0:
            return found[0]
    found = root.xpath('//*[@role="main"]')
    if found:
        return found[0]
    body = root.find("body")
    return body if body is not None else root


def _text_len(el: etree._Element) -> int:
    return len("".join(el.itertext()).strip())


def _skipped(el: etree._Element) -> bool:
    if not isinstance(el.tag, str) or el.tag in _SKIP_TAGS:
        return True
    if el.get("id") in _SKIP_IDS:
        return True
    classes = set((el.get("class") or "").split())
    return bool(classes & _SKIP_CLASSES)


def _has_block_child(el: etree._Element) -> bool:
    return any(isinstance(c.tag, str) and c.tag in _BLOCK_TAGS for c in el.iterdescendants())


def _inline_text(el: etree._Element) -> str:
    """Text as printed: <br> becomes a newline, bullet images their alt text."""
    parts: list[str] = []

    def walk(node: etree._Element) -> None:
        if _skipped(node):
            pass
        elif node.tag == "br":
            parts.append("\n")
        elif node.tag == "img":
            parts.append(node.get("alt") or "")
        else:
            parts.append(node.text or "")
            for child in node:
                walk(child)
                parts.append(child.tail or "")

    walk(el)
    return _clean("".join(parts))


def _clean(text: str) -> str:
    lines = (re.sub(r"[ \t\r\n\f\v]+", " ", line).strip(" ") for line in text.split("\n"))
    return "\n".join(line for line in lines if line.strip())


def _is_right(el: etree._Element) -> bool:
    style = (el.get("style") or "").replace(" ", "")
    classes = set((el.get("class") or "").split())
    return el.get("align") == "right" or "text-align:right" in style or bool(classes & {"right", "txt-right"})


def _is_center(el: etree._Element) -> bool:
    style = (el.get("style") or "").replace(" ", "")
    classes = set((el.get("class") or "").split())
    return el.get("align") == "center" or "text-align:center" in style or "center" in classes


def _is_bold(el: etree._Element) -> bool:
    return el.tag in {"strong", "b"} or (el.tag == "span" and "bold" in (el.get("class") or "").split())


def _all_bold(el: etree._Element) -> bool:
    """Whether every visible character of the element sits inside <strong>/<b>."""
    outside = (el.text or "") + "".join(
        (c.tail or "") + ("" if _is_bold(c) or c.tag == "br" else "".join(c.itertext())) for c in el
    )
    return not outside.strip() and any(_is_bold(c) for c in el)


def _item_label(el: etree._Element) -> tuple[str, str] | None:
    """(label as printed, key) when the element opens with a bold item number such as 5－1－1."""
    if (el.text or "").strip():
        return None
    label = ""
    for child in el:
        if not _is_bold(child):
            break
        label += "".join(child.itertext())
        if (child.tail or "").strip():
            break
    label = label.strip().rstrip("　").strip()
    key = item_key(label)
    return (label, key) if label and _ITEM_NUMBER.match(key) else None


def _blocks(container: etree._Element) -> list[_Block]:
    out: list[_Block] = []

    def emit_text(text: str | None, linked: int = 0) -> None:
        cleaned = _clean(text or "")
        if cleaned:
            out.append(_Block("para", cleaned, linked=linked))

    def visit(el: etree._Element) -> None:
        if _skipped(el):
            return
        tag = el.tag
        if tag in _HEADINGS:
            text = _inline_text(el).replace("\n", " ")
            if text:
                kind = "caption" if _CAPTION.match(text) else "heading"
                out.append(_Block(kind, text, _HEADINGS[tag]))
            return
        if tag == "tr":
            cells = [_inline_text(c).replace("\n", " ") for c in el if c.tag in {"td", "th"}]
            emit_text("　".join(c for c in cells if c), linked=_linked_chars(el))
            return
        if tag in _BLOCK_TAGS and tag != "tr" and _has_block_child(el):
            emit_text(el.text)
            for child in el:
                visit(child)
                emit_text(child.tail)
            return
        out.extend(_classify(el))

    emit_text(container.text)
    for child in container:
        visit(child)
        emit_text(child.tail)
    return [b for b in out if b.text]


def _classify(el: etree._Element) -> list[_Block]:
    text = _inline_text(el)
    one_line = text.replace("\n", " ")
    item = _item_label(el)
    if item is not None:
        label = item[0]
        body = text[len(label) :] if text.startswith(label) else _strip_label(text, label)
        return [_Block("item", body.strip(" 　"), label=label)]
    bold, center = _all_bold(el), _is_center(el)
    if bold or center:
        lines = text.split("\n")
        structs = [_STRUCT.match(line) for line in lines]
        if all(structs) and len(one_line) <= 80:
            return [
                _Block("struct", line, _STRUCT_LEVEL[m.group(1)])
                for line, m in zip(lines, structs, strict=True)
                if m
            ]
        if bold and _CAPTION.match(one_line):
            return [_Block("caption", one_line)]
        if bold and center and 2 <= len(one_line) <= 80:
            # A centred bold line such as 法第2条《定義》関係: a heading just above the page's h1.
            return [_Block("struct", one_line, _STRUCT_LEVEL["目"])]
    return [_Block("para", text, right=_is_right(el), linked=_linked_chars(el))]


def _visible_chars(text: str) -> int:
    return len(re.sub(r"\s", "", text))


def _linked_chars(el: etree._Element) -> int:
    """Characters of ``el``'s text (as ``_inline_text`` reads it) that belong to links to other pages."""
    if _skipped(el):
        return 0
    if el.tag == "a" and el.get("href"):
        return _visible_chars(_inline_text(el))
    return sum(_linked_chars(child) for child in el)


def _strip_label(text: str, label: str) -> str:
    """Remove a label printed across several <strong> runs ("183" + "～193共－1")."""
    compact = label.replace(" ", "")
    consumed = 0
    for i, ch in enumerate(text):
        if consumed == len(compact):
            return text[i:]
        if ch == compact[consumed]:
            consumed += 1
        elif ch not in " 　":
            break
    return text if consumed < len(compact) else ""


# ---------------------------------------------------------------- sections


def _sections(blocks: list[_Block], title: str) -> list[ParsedSection]:
    if any(b.kind == "item" for b in blocks):
        return _by_items(blocks, title)
    splitters = [b for b in blocks if b.kind == "caption" or (b.kind == "heading" and b.text != title)]
    if splitters:
        return _by_headings(blocks, title)
    return _by_size([b for b in blocks if not (b.kind == "heading" and b.text == title)])


class _PathStack:
    def __init__(self, title: str) -> None:
        self.title = title
        self.items: list[tuple[int, str]] = []

    def push(self, block: _Block) -> None:
        while self.items and self.items[-1][0] >= block.level:
            self.items.pop()
        # The page title repeated as the first h1 is not a path element of its own.
        if block.level == _HEADINGS["h1"] and block.text == self.title and not self.items:
            return
        self.items.append((block.level, block.text))

    def path(self) -> tuple[str, ...]:
        return tuple(text for _, text in self.items)


def _close(current: _Open | None, out: list[ParsedSection]) -> None:
    if current is not None and current.lines:
        text = "\n".join(current.lines)
        out.append(
            ParsedSection(
                key=current.key,
                label=current.label,
                text=text,
                caption=current.caption,
                path=current.path,
                part=_part(text, current.linked),
            )
        )


def _part(text: str, linked: int) -> Part:
    """A section whose text is mostly the text of links is a table of contents or a list of other pages:
    it says where to look, not what a circular says."""
    return Part.CONTENTS if linked >= CONTENTS_SHARE * _visible_chars(text) else Part.MAIN


def _preamble() -> _Open:
    """The text before the first item or heading: section s0 (前文), put first by ``_close_preamble``."""
    return _Open("s0", "前文", "", ())


def _close_preamble(preamble: _Open, out: list[ParsedSection]) -> None:
    first: list[ParsedSection] = []
    _close(preamble, first)
    out[:0] = first


def _unique(key: str, seen: set[str]) -> str:
    candidate, n = key, 2
    while candidate in seen:
        candidate, n = f"{key}#{n}", n + 1
    seen.add(candidate)
    return candidate


def _by_items(blocks: list[_Block], title: str) -> list[ParsedSection]:
    out: list[ParsedSection] = []
    stack = _PathStack(title)
    preamble = _preamble()
    caption = ""
    current: _Open | None = None
    seen: set[str] = set()
    for b in blocks:
        if b.kind in {"heading", "struct"}:
            _close(current, out)
            current, caption = None, ""
            stack.push(b)
        elif b.kind == "caption":
            _close(current, out)
            current, caption = None, b.text
        elif b.kind == "item":
            _close(current, out)
            key = item_key(b.label)
            current = _Open(_unique(key, seen), b.label, caption, stack.path())
            if b.text:
                current.add(b)
            caption = ""
        elif current is not None:
            current.add(b)
        else:
            preamble.add(b)
    _close(current, out)
    _close_preamble(preamble, out)
    return out


def _by_headings(blocks: list[_Block], title: str) -> list[ParsedSection]:
    out: list[ParsedSection] = []
    stack = _PathStack(title)
    preamble = _preamble()
    pending: _Block | None = None
    current: _Open | None = None
    for b in blocks:
        if b.kind in {"heading", "struct"}:
            _close(current, out)
            current = None
            stack.push(b)
            # A heading that was pushed waits for its content; the title h1 is not pushed.
            pending = b if stack.items and stack.items[-1] == (b.level, b.text) else None
        elif b.kind == "caption":
            _close(current, out)
            current, pending = None, b
        elif current is None and pending is not None:
            n = len(out) + 1
            if pending.kind == "caption":
                current = _Open(f"s{n}", pending.text, pending.text, stack.path())
            else:
                current = _Open(f"s{n}", pending.text, "", stack.path()[:-1])
            current.add(b)
            pending = None
        elif current is not None:
            current.add(b)
        else:
            preamble.add(b)
    _close(current, out)
    _close_preamble(preamble, out)
    return out


def _by_size(blocks: list[_Block]) -> list[ParsedSection]:
    out: list[ParsedSection] = []
    current: _Open | None = None
    size = 0
    for b in blocks:
        if current is not None and size + len(b.text) > CHUNK_CHARS:
            _close(current, out)
            current = None
        if current is None:
            n = len(out) + 1
            current, size = _Open(f"s{n}", f"s{n}", "", ()), 0
        current.add(b)
        size += len(b.text)
    _close(current, out)
    return out


# ---------------------------------------------------------------- metadata


def _title(root: etree._Element, blocks: list[_Block], source: str) -> str:
    for b in blocks:
        if b.kind in {"heading", "caption"} and b.level == _HEADINGS["h1"]:
            return b.text
    h1 = root.xpath("//h1")
    if h1 and _inline_text(h1[0]):
        return _inline_text(h1[0]).replace("\n", " ")
    title = root.findtext(".//title") or ""
    title = _SITE_SUFFIX.sub("", _clean(title).replace("\n", " ")) if "｜" in title or "|" in title else title
    return _clean(title) or PurePosixPath(urlsplit(source).path).stem


def _effective_date(blocks: list[_Block]) -> str:
    """Latest era date in the right-aligned header lines (issue date / 改正 dates), as ISO."""
    dates: list[str] = []
    for b in blocks:
        if not b.right:
            continue
        for era, year, month, day in _ERA_DATE.findall(unicodedata.normalize("NFKC", b.text)):
            y = _ERA_START[era] + (1 if year == "元" else int(year)) - 1
            dates.append(iso_date(y, int(month), int(day)))  # "" for a day that does not exist
    return max(dates, default="")


def page_url(root: etree._Element, source: str) -> str:
    """Canonical URL, og:url, the source URL, or one reconstructed from a crawler file name."""
    declared = root.xpath('//link[@rel="canonical"]/@href')
    declared += root.xpath('//meta[@property="og:url"]/@content')
    for href in declared:
        if href.startswith(("http://", "https://")):
            return href.strip()
    if source.startswith(("http://", "https://")):
        return source
    return reconstruct_url(PurePosixPath(source).name)


# 国税庁 paths whose underscores are known from the site's own links (e.g. /law/tsutatsu/kihon/hojin/
# 01/01_01.htm, /law/jimu-unei/sozoku/170111_1/01.htm). Names matching none of them are ambiguous.
_KIHON_DIRS = {
    "hojin": "hojin",
    "shohi": "shohi",
    "shotoku": "shotoku",
    "sisan_sozoku2": "sisan/sozoku2",
    "sisan_sozoku": "sisan/sozoku",
}
_KIHON = "(" + "|".join(sorted(_KIHON_DIRS, key=len, reverse=True)) + ")"
_NTA_HOJIN = re.compile(r"^law_tsutatsu_kihon_hojin_(\d\d)_(\d\d(?:_\d\d)+(?:_\d+)?)\.htm$")
_NTA_CHAPTER = re.compile(r"^law_tsutatsu_kihon_(shohi|shotoku|sisan_sozoku2)_(\d\d)_(\d\d)\.htm$")
_NTA_KAISEI = re.compile(rf"^law_tsutatsu_kihon_{_KIHON}_kaisei_(\d[\d-]*)_index\.htm$")
_NTA_JIMU = re.compile(r"^law_jimu-unei_([a-z]+(?:_[a-z]+)*)_(\d{6}(?:-\d+)?(?:_\d+)?)_(\d\d|index)\.htm$")
_NTA_JIMU_TOP = re.compile(r"^law_jimu-unei_([a-z]+)\.htm$")


def reconstruct_url(file_name: str) -> str:
    """``www.nta.go.jp_law_tsutatsu_kihon_shohi_05_01.htm`` → its page URL, only when unambiguous."""
    match = _CRAWLED_NAME.match(file_name)
    if not match or match.group(1) != "www.nta.go.jp":
        return ""
    rest = match.group(2)
    base = "https://www.nta.go.jp/"
    if m := _NTA_HOJIN.match(rest):
        return f"{base}law/tsutatsu/kihon/hojin/{m[1]}/{m[2]}.htm"
    if m := _NTA_CHAPTER.match(rest):
        return f"{base}law/tsutatsu/kihon/{_KIHON_DIRS[m[1]]}/{m[2]}/{m[3]}.htm"
    if m := _NTA_KAISEI.match(rest):
        return f"{base}law/tsutatsu/kihon/{_KIHON_DIRS[m[1]]}/kaisei/{m[2]}/index.htm"
    if m := _NTA_JIMU.match(rest):
        return f"{base}law/jimu-unei/{m[1].replace('_', '/')}/{m[2]}/{m[3]}.htm"
    if m := _NTA_JIMU_TOP.match(rest):
        return f"{base}law/jimu-unei/{m[1]}.htm"
    return ""


# The 国税庁's 基本通達 are each published as one page per chapter or section, and no page names the
# circular it belongs to (its title is 第1節　納税地及び納税義務): the site's path does. Amendment lists
# (…/kaisei/…) are notices of their own.
_NTA_SERIES = (
    ("https://www.nta.go.jp/law/tsutatsu/kihon/hojin/", "法人税基本通達"),
    ("https://www.nta.go.jp/law/tsutatsu/kihon/shotoku/", "所得税基本通達"),
    ("https://www.nta.go.jp/law/tsutatsu/kihon/shohi/", "消費税法基本通達"),
    ("https://www.nta.go.jp/law/tsutatsu/kihon/sisan/sozoku2/", "相続税法基本通達"),
)


def series_title(url: str) -> str:
    """The name of the circular a page of a many-page circular belongs to ("" when not known)."""
    if "/kaisei/" in url:
        return ""
    return next((name for prefix, name in _NTA_SERIES if url.startswith(prefix)), "")


def doc_id_for(source: str, url: str) -> str:
    """Stable id: ``host-short:path_slug`` from a URL or crawler file name, else the file stem."""
    name = PurePosixPath(urlsplit(source).path).name if "://" in source else PurePosixPath(source).name
    crawled = _CRAWLED_NAME.match(name)
    if crawled:
        return f"{_host_short(crawled.group(1))}:{_drop_ext(crawled.group(2))}"
    for candidate in (source, url):
        if candidate.startswith(("http://", "https://")):
            parts = urlsplit(candidate)
            slug = _drop_ext(parts.path.strip("/")).replace("/", "_") or "index"
            return f"{_host_short(parts.hostname or '')}:{slug}"
    return PurePosixPath(name).stem


def _host_short(host: str) -> str:
    host = host.lower().removeprefix("www.")
    if host.endswith((".go.jp", ".lg.jp")):
        return host.split(".")[0] if host.count(".") == 2 else host.rsplit(".", 2)[0]
    return host


def _drop_ext(path: str) -> str:
    return re.sub(r"\.(?:s?html?|xhtml|php|aspx?)$", "", path)
