"""One bad item does not take its feed down: an empty <title> is repaired or the item skipped."""

from __future__ import annotations

import logging

import pytest

from bot.digest.feeds import FeedError, parse_feed
from tests.bot.digest.conftest import (
    RunnerFactory,
    fixture,
    local_feed,
    publish_after_baseline,
    subscription,
)
from tests.fakes.adapters import RecordingAdapter
from tests.fakes.feed_server import FeedServer

RSS = "nta_shotoku_empty_titles.rss"
BASE = "http://127.0.0.1:8080"


def served(name: str) -> bytes:
    return fixture(name).replace(b"{base}", BASE.encode())


def test_an_empty_title_is_taken_from_the_first_line_of_the_description(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="bot.digest.feeds"):
        items = parse_feed(served(RSS), source="shotoku.rss")
    assert [(i.id, i.title) for i in items] == [
        ("nta-shotoku-17-01", "第17条《納税地の特例》関係の取扱いを改正しました。"),
        ("nta-shotoku-30-01", "第30条《退職所得》関係（所得税基本通達）"),
        ("nta-shotoku-01-01", "第1節　納税義務者（所得税基本通達）"),
    ]
    # The description is still the summary, whole.
    assert items[0].summary == (
        "第17条《納税地の特例》関係の取扱いを改正しました。改正後の全文は本文をご覧ください。"
    )
    assert "shotoku.rss: item 1 has an empty <title>; titled from its description" in caplog.text
    assert "shotoku.rss: item 2 skipped: its <title> is empty and it has no description" in caplog.text


def test_rdf_and_atom_items_are_repaired_or_skipped_the_same_way(caplog: pytest.LogCaptureFixture) -> None:
    rdf = (
        '<?xml version="1.0" encoding="UTF-8"?><rdf:RDF xmlns="http://purl.org/rss/1.0/"'
        ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><channel rdf:about="https://x.lg.jp/"/>'
        '<item rdf:about="https://x.lg.jp/a.html"><title/><link>https://x.lg.jp/a.html</link>'
        "<description>介護保険料の改定について\n詳細は添付資料を参照。</description></item>"
        '<item rdf:about="https://x.lg.jp/b.html"><title>防災訓練の実施</title><link>https://x.lg.jp/b.html</link></item>'
        '<item rdf:about="https://x.lg.jp/c.html"><title>リンクのない記事</title><link> </link></item>'
        "</rdf:RDF>"
    ).encode()
    with caplog.at_level(logging.INFO, logger="bot.digest.feeds"):
        items = parse_feed(rdf, source="x.rdf")
    assert [(i.url, i.title) for i in items] == [
        ("https://x.lg.jp/a.html", "介護保険料の改定について"),
        ("https://x.lg.jp/b.html", "防災訓練の実施"),
    ]
    assert "x.rdf: item 3 skipped: its <link> is missing or empty" in caplog.text

    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        '<entry><id>tag:x,1</id><title type="html"></title>'
        '<link rel="alternate" href="https://x.lg.jp/1.html" title="入札結果（令和7年4月分）"/></entry>'
        '<entry><id>tag:x,2</id><title></title><link href="https://x.lg.jp/2.html"/>'
        "<summary>" + "長い説明" * 40 + "</summary></entry>"
        '<entry><id>tag:x,3</id><title/><link href="https://x.lg.jp/3.html"/></entry>'
        "</feed>"
    ).encode()
    entries = parse_feed(atom, source="x.atom")
    # A long first line is clipped, and marked so.
    assert [e.title for e in entries] == ["入札結果（令和7年4月分）", ("長い説明" * 40)[:79] + "…"]


def test_a_feed_whose_every_item_is_unusable_is_an_error() -> None:
    feed = (
        b"<rss version='2.0'><channel><item><title/><link>https://x.lg.jp/a.htm</link></item>"
        b"<item><title>t</title></item></channel></rss>"
    )
    why = r"^feed\.xml: no item can be announced \(2 skipped; item 1: its <title> is empty"
    with pytest.raises(FeedError, match=why):
        parse_feed(feed, source="feed.xml")


async def test_one_untitled_item_does_not_hold_back_the_rest_of_the_feed(
    server: FeedServer, make_runner: RunnerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = RecordingAdapter()
    runner = make_runner([local_feed(server, "nta-shotoku", "rss", "/s.rss")], [subscription()], adapter)
    with caplog.at_level(logging.WARNING, logger="bot.digest"):  # the baseline holds 第1節 only
        result = await publish_after_baseline(server, runner, "/s.rss", fixture(RSS), hidden=3)
    assert result.polls[0].error is None
    assert result.status == "posted"
    assert [i.title for i in adapter.digests[0].items] == [
        "第17条《納税地の特例》関係の取扱いを改正しました。",
        "第30条《退職所得》関係（所得税基本通達）",
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "item 2 skipped" in caplog.text
