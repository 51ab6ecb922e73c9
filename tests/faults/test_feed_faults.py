"""A corrupted feed: that source is skipped with one logged error; the others are posted once.

Two sources feed one Slack channel (the real Slack adapter against the mock Slack Web API). One
of them turns into a truncated XML document, Shift_JIS bytes under a UTF-8 declaration, or an
HTML error page served with 200. The digest carries the healthy source's new items exactly
once; the broken source costs one ERROR line naming it; later runs (broken, then healed) post
nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.digest.config import FeedSource, Subscription
from bot.digest.fetch import Fetcher
from bot.digest.runner import DigestRunner
from bot.digest.summarise import Summariser
from bot.models import ConversationRef
from bot.state.db import Database
from tests.adapters.slack.conftest import SOUMU_CHANNEL, TENANT
from tests.bot.digest.conftest import NTA, drop_newest, fixture
from tests.fakes.feed_server import FeedServer
from tests.fakes.slack_api import FakeSlack
from tests.faults.conftest import assert_one_clear_line

RDF = "nta_news_shift_jis.rdf"
NEW_RDF_TITLES = {
    "消費税法基本通達の一部改正について（法令解釈通達）",
    "法人課税部門における書面添付制度の運用に当たっての基本的な考え方及び事務手続等について（事務運営指針）",
}
HTML_ERROR_PAGE = (
    '<!DOCTYPE html>\n<html lang="ja"><head><meta charset="utf-8"><title>ただいまメンテナンス中です</title>'
    "</head><body><h1>ただいまメンテナンス中です</h1><p>しばらくしてから再度アクセスしてください。<br>"
    "</body></html>"
).encode()


def corrupt(kind: str, good: bytes) -> tuple[bytes, str]:
    if kind == "truncated":
        return good[: len(good) // 2], "application/rss+xml"
    if kind == "wrong_charset":  # re-encoded by a proxy, the declaration left saying UTF-8
        return good.decode("utf-8").encode("shift_jis", "replace"), "application/rss+xml"
    return HTML_ERROR_PAGE, "text/html; charset=utf-8"


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    async with FeedServer() as server:
        server.mirror("www.nta.go.jp", NTA)
        yield server


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    fetcher = Fetcher(retries=1, backoff_s=0, host_delay_s=0, max_bytes=1024 * 1024)
    yield fetcher
    await fetcher.close()


def digest_posts(slack: FakeSlack) -> list[Any]:
    return [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == SOUMU_CHANNEL]


def posted_titles(slack: FakeSlack) -> list[str]:
    blocks = [b for c in digest_posts(slack) for b in c.params["blocks"]]
    texts = [b["text"]["text"] for b in blocks if b.get("type") == "section"]
    return [t for text in texts for t in NEW_RDF_TITLES if t in text]


@pytest.mark.parametrize("kind", ["truncated", "wrong_charset", "html_error_page"])
async def test_a_corrupted_feed_is_skipped_with_one_error_and_the_others_posted_once(
    kind: str, feeds: FeedServer, fetcher: Fetcher, db: Database, make_adapter: Any, serve: Any,
    slack: FakeSlack, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    running = await serve(make_adapter())
    local = (feeds.host,)  # the fake server on 127.0.0.1, named as an on-premises host
    news = FeedSource(
        id="nta-news", kind="rdf", url=feeds.url("/news.rdf"), collection="circulars", internal_hosts=local
    )
    kihon = FeedSource(
        id="nta-kihon", kind="rss", url=feeds.url("/feeds/kihon.rss"), collection="circulars",
        internal_hosts=local,
    )
    sub = Subscription(
        id="soumu-weekday", ref=ConversationRef(platform="slack", tenant=TENANT, channel=SOUMU_CHANNEL),
        schedule="30 8 * * mon-fri", sources=(),
    )  # fmt: skip
    runner = DigestRunner(
        db=db, feeds=[news, kihon], subscriptions=[sub], adapters={"slack": running.adapter},
        fetcher=fetcher, summariser=Summariser(),
    )  # fmt: skip
    good_kihon = fixture("nta_kihon.rss")
    feeds.put("/news.rdf", drop_newest(fixture(RDF), 2), "application/rdf+xml")
    feeds.put("/feeds/kihon.rss", good_kihon)
    await runner.poll()  # first sight of both sources: a baseline, nothing announced
    feeds.put("/news.rdf", fixture(RDF), "application/rdf+xml")
    body, content_type = corrupt(kind, good_kihon)
    feeds.put("/feeds/kihon.rss", body, content_type)

    with caplog.at_level(logging.INFO):
        result = await runner.run(sub.id)

    assert result.status == "posted"
    assert {p.source_id: p.error is not None for p in result.polls} == {"nta-news": False, "nta-kihon": True}
    assert len(digest_posts(slack)) == 1
    assert sorted(posted_titles(slack)) == sorted(NEW_RDF_TITLES)
    assert_one_clear_line(caplog, "digest source nta-kihon", feeds.url("/feeds/kihon.rss"))

    # Still broken, then healed: nothing is posted twice, and the healed source announces nothing
    # it had already listed before it broke.
    again = await runner.run(sub.id)
    feeds.put("/feeds/kihon.rss", good_kihon)
    healed = await runner.run(sub.id)
    assert (again.status, healed.status) == ("nothing_new", "nothing_new")
    assert {p.source_id: p.error for p in healed.polls} == {"nta-news": None, "nta-kihon": None}
    assert len(digest_posts(slack)) == 1
    assert sorted(posted_titles(slack)) == sorted(NEW_RDF_TITLES)
