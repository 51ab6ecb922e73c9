"""Pure parsing of feeds and list pages into ``FeedItem``s.

Supported: RSS 1.0 (RDF, as 総務省 and many ministries publish it, often in
Shift_JIS), RSS 2.0, Atom 1.0, and "index pages": an HTML list of links for
publishers without a feed. Nothing here does I/O; errors raise ``FeedError``
naming the source and the element that is wrong.
"""

from __future__ import annotations

import codecs
import email.utils
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.html
from lxml import etree

from knowledge.dates import iso_date
from knowledge.documents import ParseError
from knowledge.parsers.charset import (
    charset_from_header,
    charset_from_xml_declaration,
    codec_name,
    decode_html,
)

log = logging.getLogger(__name__)

JST = timezone(timedelta(hours=9), "JST")

NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rss1": "http://purl.org/rss/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
}
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*\?>", re.DOTALL)
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_SPACE = re.compile(r"[^\S\u3000]+")  # runs of whitespace; the ideographic space is kept as published
_DOC_SUFFIXES = (".htm", ".html", ".pdf", ".shtml", ".xhtml")
_ERA_DATE = re.compile(r"(令和|平成)\s*(元|[0-9]+)\s*年\s*([0-9]+)\s*月\s*([0-9]+)\s*日")
_ERA_START = {"平成": 1989, "令和": 2019}
_ISO_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})")


class FeedError(ParseError):
    """A feed or list page that cannot be read; the message names the source and what is wrong."""


@dataclass(frozen=True)
class FeedItem:
    id: str  # guid / rdf:about / atom:id, else the link
    title: str
    url: str
    published: str  # ISO 8601 with offset ("2025-04-01T10:00:00+09:00"), a date, or "" when unknown
    category: str  # "" when the item has none
    summary: str = ""  # the feed's own description text, if any


# ---------------------------------------------------------------- helpers


def clean(text: str | None) -> str:
    """NFKC-free whitespace cleanup: the text as published, on one line."""
    return _SPACE.sub(" ", text or "").strip()


def _strip_tags(text: str) -> str:
    """Descriptions are often escaped HTML: keep their text only."""
    if "<" not in text:
        return clean(text)
    try:
        return clean(lxml.html.fragment_fromstring(text, create_parent="div").text_content())
    except (etree.ParserError, ValueError):
        return clean(re.sub(r"<[^>]+>", " ", text))


def normalise_date(value: str | None) -> str:
    """RFC 822 (RSS 2.0) or ISO 8601 (RDF dc:date, Atom) → ISO 8601; dates without a zone are JST."""
    text = clean(value)
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return _loose_date(text)
    if len(text) == 10 and moment.hour == moment.minute == 0:
        return moment.date().isoformat()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JST)
    return moment.isoformat()


def _loose_date(text: str) -> str:
    norm = unicodedata.normalize("NFKC", text)
    if m := _ERA_DATE.search(norm):
        year = _ERA_START[m[1]] + (1 if m[2] == "元" else int(m[2])) - 1
        return iso_date(year, int(m[3]), int(m[4]))
    if m := _ISO_DATE.search(norm):
        return iso_date(int(m[1]), int(m[2]), int(m[3]))
    return ""


def _published(value: str, source: str, n: int, tag: str) -> str:
    """``normalise_date`` of an item's date field; one that is no real date is dropped and logged."""
    published = normalise_date(value)
    if value and not published:
        log.warning("%s: item %d: %s %r is not a real date; kept without a date", source, n, tag, value)
    return published


def date_key(published: str) -> str:
    """Sortable UTC form of a ``published`` value ("" sorts first)."""
    if not published:
        return ""
    try:
        moment = datetime.fromisoformat(published)
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JST)
    return moment.astimezone(UTC).isoformat()


def japan_date(published: str) -> str:
    """The date in Japan (Asia/Tokyo) of a ``published`` value, as staff read dates: an Atom time of
    2025-03-31T20:00:00Z is 2025-04-01. A bare date is the publisher's own and stays as it is."""
    if len(published) <= 10:
        return published
    try:
        moment = datetime.fromisoformat(published)
    except ValueError:
        return published[:10]
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JST)
    return moment.astimezone(JST).date().isoformat()


def _absolute(href: str, base_url: str) -> str:
    return urldefrag(urljoin(base_url, href.strip()))[0]


def _xml_root(
    data: bytes, source: str, encoding: str | None, content_type: str | None = None
) -> etree._Element:
    """The feed's root element. Bytes in a legacy charset are decoded here, not by libxml2, so that
    Shift_JIS means CP932 as it does in browsers (libxml2's strict Shift_JIS rejects ①, Ⅱ, 髙, ㈱).
    The charset: ``encoding`` (the admin's), else the XML declaration's, else the HTTP header's."""
    if not data.strip():
        raise FeedError(f"{source}: the feed is empty")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=False, huge_tree=False)
    served = charset_from_header(content_type) if content_type else None
    label = encoding or charset_from_xml_declaration(data) or served
    codec = codec_name(label) if label else None
    if encoding and codec is None:
        raise FeedError(f"{source}: unknown encoding {encoding!r}")
    try:
        if codec is not None and not codec.startswith("utf") and not data.startswith(_BOMS):
            text = _XML_DECL.sub(b"", data).decode(codec)
            return etree.fromstring(text, parser)
        return etree.fromstring(data, parser)  # UTF-8/16/32 (declared or by BOM): libxml2 reads them
    except UnicodeDecodeError as exc:
        raise FeedError(f"{source}: not valid {label} at byte {exc.start}") from exc
    except etree.XMLSyntaxError as exc:
        raise FeedError(f"{source}: invalid XML at line {exc.lineno}: {exc.msg}") from exc


def _text(el: etree._Element, path: str) -> str:
    found = el.find(path, NS)
    return clean("".join(found.itertext())) if found is not None else ""


# ---------------------------------------------------------------- feeds


def parse_feed(
    data: bytes, *, source: str, encoding: str | None = None, content_type: str | None = None
) -> list[FeedItem]:
    """Items of an RSS 1.0 / RSS 2.0 / Atom feed, in document order.

    The format is recognised from the root element. ``encoding`` overrides the XML
    declaration (for feeds served in one charset but declaring another); without it
    the declaration is honoured, so ``<?xml version="1.0" encoding="Shift_JIS"?>`` works,
    and a feed without one is read in the charset of ``content_type`` (the HTTP header).
    Shift_JIS means CP932 throughout.
    """
    root = _xml_root(data, source, encoding, content_type)
    tag = etree.QName(root).localname
    if tag == "RDF":
        items = _rdf(root, source)
    elif tag == "rss":
        items = _rss2(root, source)
    elif tag == "feed" and etree.QName(root).namespace == NS["atom"]:
        items = _atom(root, source)
    else:
        raise FeedError(f"{source}: root element <{root.tag}> is not RSS 1.0 (rdf:RDF), RSS 2.0 or Atom")
    return items


MAX_REPAIRED_TITLE = 80  # characters of a description's first line used as a missing title
_BLOCK_TAGS = ("p", "div", "li", "dd", "dt", "tr", "h1", "h2", "h3", "h4", "h5", "h6")


class _Items:
    """A feed's items as they are parsed: one that cannot be announced is skipped with a log line,
    so that one bad item does not hold back the rest of its feed."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[FeedItem] = []
        self.skipped: list[str] = []

    def skip(self, n: int, why: str) -> None:
        log.warning("%s: item %d skipped: %s", self.source, n, why)
        self.skipped.append(f"item {n}: {why}")

    def title(self, n: int, title: str, description: str, link_title: str = "") -> str:
        """The item's title; an empty one is taken from the first line of its description (or the
        title its link carries). "" when there is neither: the caller skips the item."""
        if title:
            return title
        repaired = _first_line(description) or clean(link_title)
        if repaired:
            log.info("%s: item %d has an empty <title>; titled from its description", self.source, n)
        else:
            self.skip(n, "its <title> is empty and it has no description to take one from")
        return repaired

    def result(self) -> list[FeedItem]:
        if self.skipped and not self.items:
            count = len(self.skipped)
            raise FeedError(f"{self.source}: no item can be announced ({count} skipped; {self.skipped[0]})")
        return _unique(self.items)


def _raw(el: etree._Element, path: str) -> str:
    """An element's text with its line breaks (``_text`` puts it on one line)."""
    found = el.find(path, NS)
    return "".join(found.itertext()) if found is not None else ""


def _first_line(description: str) -> str:
    """The first non-empty line of a description (escaped HTML or text), at most MAX_REPAIRED_TITLE
    characters: cut after its first sentence when that fits, else clipped and marked with …."""
    text = description
    if "<" in description:
        try:
            fragment = lxml.html.fragment_fromstring(description, create_parent="div")
        except (etree.ParserError, ValueError):
            text = re.sub(r"<[^>]+>", "\n", description)
        else:
            for el in fragment.iter("br", *_BLOCK_TAGS):
                el.tail = "\n" + (el.tail or "")
            text = fragment.text_content()
    line = next((clean(line) for line in text.splitlines() if clean(line)), "")
    if len(line) <= MAX_REPAIRED_TITLE:
        return line
    end = line.find("。")
    if 0 < end < MAX_REPAIRED_TITLE:
        return line[: end + 1]
    return line[: MAX_REPAIRED_TITLE - 1] + "…"


def _rdf(root: etree._Element, source: str) -> list[FeedItem]:
    channel = root.find("rss1:channel", NS)
    base = _text(channel, "rss1:link") if channel is not None else ""
    out = _Items(source)
    for n, item in enumerate(root.findall("rss1:item", NS), 1):
        link = _text(item, "rss1:link")
        if not link:
            out.skip(n, "its <link> is missing or empty")
            continue
        link = _absolute(link, base or source)
        title = out.title(n, _text(item, "rss1:title"), _raw(item, "rss1:description"))
        if not title:
            continue
        about = item.get(f"{{{NS['rdf']}}}about") or link
        out.items.append(
            FeedItem(
                id=about.strip(),
                title=title,
                url=link,
                published=_published(_text(item, "dc:date"), source, n, "<dc:date>"),
                category=_text(item, "dc:subject"),
                summary=_strip_tags(_text(item, "rss1:description")),
            )
        )
    return out.result()


def _rss2(root: etree._Element, source: str) -> list[FeedItem]:
    channel = root.find("channel")
    if channel is None:
        raise FeedError(f"{source}: <rss> has no <channel>")
    base = _text(channel, "link") or source
    out = _Items(source)
    for n, item in enumerate(channel.findall("item"), 1):
        link = _text(item, "link")
        guid = _text(item, "guid")
        if not link and guid.startswith(("http://", "https://")):
            link = guid
        if not link:
            out.skip(n, "its <link> is missing or empty")
            continue
        link = _absolute(link, base)
        title = out.title(n, _text(item, "title"), _raw(item, "description"))
        if not title:
            continue
        out.items.append(
            FeedItem(
                id=guid or link,
                title=title,
                url=link,
                published=_published(
                    _text(item, "pubDate") or _text(item, "dc:date"), source, n, "<pubDate>"
                ),
                category=_text(item, "category") or _text(item, "dc:subject"),
                summary=_strip_tags(_text(item, "description")),
            )
        )
    return out.result()


def _atom_link(entry: etree._Element) -> etree._Element | None:
    links = entry.findall("atom:link", NS)
    for link in links:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link
    return links[0] if links else None


def _atom(root: etree._Element, source: str) -> list[FeedItem]:
    base = root.get("{http://www.w3.org/XML/1998/namespace}base") or source
    out = _Items(source)
    for n, entry in enumerate(root.findall("atom:entry", NS), 1):
        anchor = _atom_link(entry)
        href = (anchor.get("href") or "").strip() if anchor is not None else ""
        if not href:
            out.skip(n, "its <link href> is missing or empty")
            continue
        link = _absolute(href, base)
        description = _raw(entry, "atom:summary") or _raw(entry, "atom:content")
        link_title = anchor.get("title") or "" if anchor is not None else ""
        title = out.title(n, _text(entry, "atom:title"), description, link_title)
        if not title:
            continue
        category = entry.find("atom:category", NS)
        label = (category.get("label") or category.get("term") or "") if category is not None else ""
        out.items.append(
            FeedItem(
                id=_text(entry, "atom:id") or link,
                title=title,
                url=link,
                published=_published(
                    _text(entry, "atom:published") or _text(entry, "atom:updated"), source, n, "<published>"
                ),
                category=clean(label),
                summary=_strip_tags(_text(entry, "atom:summary") or _text(entry, "atom:content")),
            )
        )
    return out.result()


def _unique(items: Iterable[FeedItem]) -> list[FeedItem]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item.id not in seen:
            seen.add(item.id)
            out.append(item)
    return out


# ---------------------------------------------------------------- index pages


def parse_index_page(
    data: bytes,
    *,
    source: str,
    encoding: str | None = None,
    content_type: str | None = None,
) -> list[FeedItem]:
    """Document links on an HTML list page (新着情報・通知一覧), in page order.

    A link counts when it points to a page or PDF on the same host as the list page
    (not to the page itself, nor to a directory/top page); its text is the title, and
    a date written next to it (令和7年4月1日, 2025/04/01) is its ``published`` value.
    """
    if not data.strip():
        raise FeedError(f"{source}: the page is empty")
    try:
        text = data.decode(codec_name(encoding) or encoding) if encoding else decode_html(data, content_type)
        root = lxml.html.document_fromstring(text)
    except (UnicodeDecodeError, LookupError, ParseError, etree.ParserError, ValueError) as exc:
        raise FeedError(f"{source}: cannot read the list page: {exc}") from exc
    base = (root.xpath("//base/@href") or [source])[0]
    host = urlsplit(source).hostname
    page = urldefrag(source)[0]
    items = []
    for anchor in root.iter("a"):
        href = anchor.get("href")
        title = clean(anchor.text_content())
        if not href or not title or href.startswith(("mailto:", "javascript:", "#")):
            continue
        url = _absolute(href, base)
        parts = urlsplit(url)
        if parts.hostname != host or url == page or not parts.path.lower().endswith(_DOC_SUFFIXES):
            continue
        if _in_navigation(anchor):
            continue
        context = anchor.getparent()
        around = clean(context.text_content()) if context is not None else ""
        items.append(FeedItem(id=url, title=title, url=url, published=_loose_date(around), category=""))
    if not items:
        raise FeedError(f"{source}: no document links (.htm/.html/.pdf on {host}) found on the list page")
    return _unique(items)


def _in_navigation(el: etree._Element) -> bool:
    for parent in el.iterancestors():
        if parent.tag in {"nav", "header", "footer"}:
            return True
        ident = f"{parent.get('id', '')} {parent.get('class', '')}".lower()
        if any(word in ident for word in ("header", "footer", "breadcrumb", "topicpath", "gnav", "sidenav")):
            return True
    return False
