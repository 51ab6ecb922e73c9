from __future__ import annotations

import pytest

from bot.digest.feeds import FeedError, normalise_date, parse_feed, parse_index_page
from tests.bot.digest.conftest import NTA, fixture

BASE = "http://127.0.0.1:8080"


def served(name: str) -> bytes:
    return fixture(name).replace(b"{base}", BASE.encode())


def test_rdf_in_shift_jis_is_decoded_from_its_declaration() -> None:
    data = served("nta_news_shift_jis.rdf")
    assert data.startswith(b'<?xml version="1.0" encoding="Shift_JIS"?>')
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    items = parse_feed(data, source="news.rdf")
    assert [i.title for i in items] == [
        "消費税法基本通達の一部改正について（法令解釈通達）",
        "法人課税部門における書面添付制度の運用に当たっての基本的な考え方及び事務手続等について（事務運営指針）",
        "相続税、贈与税の過少申告加算税及び無申告加算税の取扱いについて（事務運営指針）",
        "源泉所得税の不納付加算税の取扱いについて（事務運営指針）",
    ]
    first = items[0]
    assert first.id == first.url == f"{BASE}/law/tsutatsu/kihon/shohi/kaisei/0026003-067/index.htm"
    assert first.published == "2026-04-01T17:00:00+09:00"
    assert first.category == "消費税"
    assert first.summary == "消費税関係法令の一部改正に伴い、消費税法基本通達の所要の整備を図るものです。"


def test_mislabelled_feed_needs_the_encoding_override() -> None:
    # Served as Shift_JIS bytes but declaring UTF-8: the declaration is wrong.
    text = (
        served("nta_news_shift_jis.rdf")
        .decode("shift_jis")
        .replace('encoding="Shift_JIS"', 'encoding="UTF-8"')
    )
    data = text.encode("shift_jis")
    with pytest.raises(FeedError, match=r"news\.rdf: invalid XML at line"):
        parse_feed(data, source="news.rdf")
    items = parse_feed(data, source="news.rdf", encoding="shift_jis")
    assert items[3].title == "源泉所得税の不納付加算税の取扱いについて（事務運営指針）"


def test_rss2_items_guid_category_pubdate_and_html_description() -> None:
    items = parse_feed(served("nta_kihon.rss"), source="kihon.rss")
    assert [(i.id, i.category, i.published) for i in items] == [
        ("nta-kihon-shotoku-04-05", "所得税", "2025-04-01T10:00:00+09:00"),
        ("nta-kihon-shohi-01-04", "消費税", "2025-03-31T17:00:00+09:00"),
        ("nta-kihon-hojin-09-02-03", "法人税", "2025-03-28T17:00:00+09:00"),
    ]
    assert items[0].url == f"{BASE}/law/tsutatsu/kihon/shotoku/04/05.htm"
    assert items[0].summary == "確定給付企業年金法の規定に基づいて支払われる退職一時金などの取扱い。"


def test_atom_entries_use_alternate_link_label_and_updated_fallback() -> None:
    items = parse_feed(served("nta_sozoku.atom"), source="sozoku.atom")
    assert [i.id for i in items] == [
        "tag:kairan.test,2025:sozoku2-06-01",
        "tag:kairan.test,2025:sozoku2-04-01",
        "tag:kairan.test,2025:sozoku2-03-01",
    ]
    assert items[0].url == f"{BASE}/law/tsutatsu/kihon/sisan/sozoku2/06/01.htm"
    assert {i.category for i in items} == {"相続税"}
    assert items[2].published == "2025-03-31T09:00:00+09:00"  # no <published>: <updated>


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the feed is empty"),
        (b"<rss><channel><item><title>x</item></channel></rss>", "invalid XML at line 1"),
        (b"<html><body>not a feed</body></html>", "root element <html> is not RSS 1.0"),
        (
            b"<rss version='2.0'><channel><item><link>http://a/b.htm</link></item></channel></rss>",
            "no item can be announced (1 skipped; item 1: its <title> is empty",
        ),
        (b"<rss version='2.0'><item/></rss>", "<rss> has no <channel>"),
    ],
)
def test_garbage_feeds_raise_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(FeedError, match="^feed.xml: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_feed(data, source="feed.xml")


def test_index_page_lists_document_links_with_their_dates() -> None:
    page = (NTA / "www.nta.go.jp_law_tsutatsu_kihon_shohi_kaisei_kaisei_a.htm").read_bytes()
    source = "https://www.nta.go.jp/law/tsutatsu/kihon/shohi/kaisei/kaisei_a.htm"
    items = parse_index_page(page, source=source)
    first = items[0]
    assert first.url == "https://www.nta.go.jp/law/tsutatsu/kihon/shohi/kaisei/0026003-067/index.htm"
    assert first.title == "消費税法基本通達の一部改正について（法令解釈通達）（令和8年4月1日）"
    assert first.published == "2026-04-01"
    urls = [i.url for i in items]
    assert len(items) == 43
    assert items[-1].url == "https://www.nta.go.jp/law/tsutatsu/kihon/shohi/kaisei/990305/01.htm"
    assert not any(u.endswith(".pdf") for u in urls)  # the page's PDF links are all commented out
    assert not any(u.endswith(("/law/index.htm", "/law/tsutatsu/menu.htm")) for u in urls)  # breadcrumbs
    assert len(urls) == len(set(urls))


def test_index_page_without_document_links_is_an_error() -> None:
    with pytest.raises(FeedError, match="no document links"):
        parse_index_page(
            b"<html><body><p>no links</p></body></html>", source="https://example.go.jp/list.htm"
        )


def test_normalise_date_forms() -> None:
    assert normalise_date("Tue, 01 Apr 2025 10:00:00 +0900") == "2025-04-01T10:00:00+09:00"
    assert normalise_date("2025-04-01T01:00:00Z") == "2025-04-01T01:00:00+00:00"
    assert normalise_date("2025-04-01T10:00:00") == "2025-04-01T10:00:00+09:00"  # no zone: JST
    assert normalise_date("2025-04-01") == "2025-04-01"
    assert normalise_date("令和7年4月1日") == "2025-04-01"
    assert normalise_date("") == ""
