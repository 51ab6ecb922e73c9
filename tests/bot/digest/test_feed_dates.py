"""Dates that do not exist (2025-13-45, 2月30日) are rejected, not passed on as if they were real."""

from __future__ import annotations

import logging

import pytest

from bot.digest.feeds import normalise_date, parse_feed, parse_index_page


@pytest.mark.parametrize(
    "value",
    [
        "2025-13-45", "2025-02-30", "2025-02-30T10:00:00+09:00",
        "令和7年13月45日", "令和7年2月30日", "2025/00/10",
    ],
)
def test_impossible_dates_are_rejected(value: str) -> None:
    assert normalise_date(value) == ""


def test_real_dates_still_pass() -> None:
    assert normalise_date("2024-02-29") == "2024-02-29"  # a leap day
    assert normalise_date("令和元年5月1日") == "2019-05-01"


def test_a_feed_item_with_an_impossible_date_is_kept_without_it_and_named_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://x.lg.jp/</link>'
        "<item><title>通知</title><link>https://x.lg.jp/a.html</link><pubDate>2025-13-45</pubDate></item>"
        "</channel></rss>"
    ).encode()
    with caplog.at_level(logging.WARNING, logger="bot.digest.feeds"):
        [item] = parse_feed(feed, source="https://x.lg.jp/feed.rss")
    assert item.published == ""
    assert "https://x.lg.jp/feed.rss: item 1: <pubDate> '2025-13-45' is not a real date" in caplog.text


def test_an_index_page_date_that_does_not_exist_is_dropped() -> None:
    page = (
        '<html><body><ul><li>令和7年2月30日 <a href="/n/1.html">お知らせ</a></li>'
        '<li>令和7年3月3日 <a href="/n/2.html">お知らせ2</a></li></ul></body></html>'
    ).encode()
    items = parse_index_page(page, source="https://x.lg.jp/list.html")
    assert [i.published for i in items] == ["", "2025-03-03"]
