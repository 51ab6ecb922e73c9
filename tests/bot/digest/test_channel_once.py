"""A channel gets each document once, whichever feed brought it.

国税庁's own feed and a prefecture's relay of the notices it forwards to municipalities list the
same documents (the relay under its own titles and guids). A channel that follows both, or has
one digest per feed, must see each document once: in one digest, across digests and runs, after
a restart and with two replicas running digests of the same channel at once.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.digest.compose import Candidate, compose, document_key
from bot.digest.config import FeedSource
from bot.digest.ledger import AlreadyRecorded
from bot.models import ConversationRef
from tests.bot.digest.conftest import (
    REF,
    Clock,
    RunnerFactory,
    drop_newest,
    fixture,
    local_feed,
    subscription,
)
from tests.fakes.adapters import RecordingAdapter
from tests.fakes.feed_server import FeedServer

RDF = "nta_news_shift_jis.rdf"
RELAY = "pref_relay.rss"
SHOHI = "/law/tsutatsu/kihon/shohi/kaisei/0026003-067/index.htm"
HOJIN = "/law/jimu-unei/hojin/090401/01.htm"
SHOTOKU = "/law/tsutatsu/kihon/shotoku/17_01.htm"
OTHER_CHANNEL = ConversationRef(platform="console", tenant="yokosuka", channel="C-ZEIMU")


def feeds(server: FeedServer) -> list[FeedSource]:
    """国税庁's feed and the prefecture's relay of it."""
    return [
        local_feed(server, "nta-news", "rdf", "/news.rdf"),
        local_feed(server, "pref", "rss", "/relay.rss"),
    ]


def publish(server: FeedServer, *, nta_hidden: int, relay_hidden: int) -> None:
    server.put("/news.rdf", drop_newest(fixture(RDF), nta_hidden) if nta_hidden else fixture(RDF))
    server.put("/relay.rss", drop_newest(fixture(RELAY), relay_hidden) if relay_hidden else fixture(RELAY))


def paths(adapter: RecordingAdapter, server: FeedServer, ref: ConversationRef = REF) -> list[str]:
    """Every document URL posted to ``ref``'s channel, in posting order, as paths on the server."""
    return [
        item.url.removeprefix(server.base_url)
        for sent_to, digest in adapter.sent
        if sent_to.channel == ref.channel
        for item in getattr(digest, "items", ())
    ]


def test_document_key_ignores_what_does_not_change_the_document() -> None:
    key = document_key("https://www.soumu.go.jp/menu_news/s-news/01gyosei02_02000401.html")
    assert document_key("http://WWW.soumu.go.jp:80/menu_news/s-news/01gyosei02_02000401.html#main") == key
    assert document_key("https://www.soumu.go.jp:443/menu_news/s-news/01gyosei02_02000401.html") == key
    upper = document_key("https://x.lg.jp/%E9%80%9A%E7%9F%A5.pdf")
    assert document_key("https://x.lg.jp/%e9%80%9a%e7%9f%a5.pdf") == upper
    assert document_key("https://x.lg.jp/a.html?id=1") != document_key("https://x.lg.jp/a.html?id=2")
    assert document_key("https://x.lg.jp/a.html") != document_key("https://y.lg.jp/a.html")


async def test_one_digest_of_two_feeds_lists_a_shared_document_once(
    server: FeedServer, make_runner: RunnerFactory
) -> None:
    adapter = RecordingAdapter()
    runner = make_runner(feeds(server), [subscription()], adapter)
    publish(server, nta_hidden=2, relay_hidden=3)
    await runner.run("soumu-weekday")  # baseline
    publish(server, nta_hidden=0, relay_hidden=1)  # 国税庁: 消費税, 書面添付; relay: 書面添付, 所得税
    result = await runner.run("soumu-weekday")
    assert result.status == "posted" and result.posted == 3
    assert sorted(paths(adapter, server)) == sorted([SHOHI, HOJIN, SHOTOKU])

    publish(server, nta_hidden=0, relay_hidden=0)  # the relay now lists 消費税 too
    assert (await runner.run("soumu-weekday")).status == "nothing_new"
    restarted = make_runner(feeds(server), [subscription()], adapter)  # a new process, same database
    assert (await restarted.run("soumu-weekday")).status == "nothing_new"
    assert restarted.status()[0].pending == 0
    assert sorted(paths(adapter, server)) == sorted([SHOHI, HOJIN, SHOTOKU])


async def test_two_digests_of_one_channel_share_what_it_has_seen(
    server: FeedServer, make_runner: RunnerFactory, clock: Clock
) -> None:
    subs = [
        subscription("nta", sources=("nta-news",)),
        subscription("pref", sources=("pref",), schedule="0 9 * * *"),
        subscription("zeimu", ref=OTHER_CHANNEL, sources=("pref",)),
    ]
    adapter = RecordingAdapter()
    runner = make_runner(feeds(server), subs, adapter)
    publish(server, nta_hidden=2, relay_hidden=3)
    await runner.poll()
    publish(server, nta_hidden=0, relay_hidden=0)
    assert (await runner.run("nta")).posted == 2
    clock.advance(hours=1)
    pref = await make_runner(feeds(server), subs, adapter).run("pref")  # another process
    assert pref.posted == 1
    assert [i.title for i in pref.digest.items] == ["【国税庁】所得税基本通達 第17条《納税地の特例》関係"]
    assert sorted(paths(adapter, server)) == sorted([SHOHI, HOJIN, SHOTOKU])
    # Another channel is another audience: it gets all three.
    assert (await runner.run("zeimu")).posted == 3
    assert sorted(paths(adapter, server, OTHER_CHANNEL)) == sorted([SHOHI, HOJIN, SHOTOKU])


async def test_two_replicas_posting_to_one_channel_at_once_post_each_document_once(
    server: FeedServer, make_runner: RunnerFactory
) -> None:
    subs = [subscription("nta", sources=("nta-news",)), subscription("pref", sources=("pref",))]
    adapter = RecordingAdapter()
    first, second = make_runner(feeds(server), subs, adapter), make_runner(feeds(server), subs, adapter)
    publish(server, nta_hidden=2, relay_hidden=3)
    await first.poll()
    publish(server, nta_hidden=0, relay_hidden=0)
    await first.poll()
    results = await asyncio.gather(first.run("nta", poll=False), second.run("pref", poll=False))
    posted = paths(adapter, server)
    assert len(posted) == len(set(posted))  # nothing twice
    # A run that lost the race leaves its items for its next run, which posts only what is left.
    for runner, result in zip((first, second), results, strict=True):
        if result.status == "busy":
            assert (await runner.run(result.subscription, poll=False)).status in {"posted", "nothing_new"}
    assert sorted(paths(adapter, server)) == sorted([SHOHI, HOJIN, SHOTOKU])


async def test_the_ledger_refuses_a_document_another_digest_of_the_channel_claimed_meanwhile(
    server: FeedServer, make_runner: RunnerFactory
) -> None:
    """The interleaving the replicas test may or may not hit: both compose before either records."""
    subs = [subscription("nta", sources=("nta-news",)), subscription("pref", sources=("pref",))]
    runner = make_runner(feeds(server), subs, RecordingAdapter())
    publish(server, nta_hidden=2, relay_hidden=3)
    await runner.poll()
    publish(server, nta_hidden=0, relay_hidden=0)
    await runner.poll()
    ledger, peers = runner.ledger, ("nta", "pref")
    since = datetime(2000, 1, 1, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    now = datetime(2025, 4, 1, tzinfo=UTC)
    _, nta = compose("nta", ledger.pending("nta", ["nta-news"], since=since, channel_subs=peers))
    _, pref = compose("pref", ledger.pending("pref", ["pref"], since=since, channel_subs=peers))
    assert len(nta) == 2 and len(pref) == 3

    def claim(sub: str, chosen: list[Candidate]) -> None:
        ledger.record_intent(
            sub, chosen, run_id=sub, marker=sub, now=now, channel="console:C-SOUMU", channel_subs=peers
        )

    claim("nta", nta)
    with pytest.raises(AlreadyRecorded):  # it would post documents the first digest is posting
        claim("pref", pref)
    assert ledger.ledger_rows("pref") == []  # all or nothing
    left = ledger.pending("pref", ["pref"], since=since, channel_subs=peers)
    assert [c.url.removeprefix(server.base_url) for c in left] == [SHOTOKU]


async def test_a_digest_that_lost_a_document_to_another_digest_of_its_channel_posts_the_rest_now(
    server: FeedServer, make_runner: RunnerFactory
) -> None:
    """Two digests of one channel at the same minute: the one that loses the race for the shared
    documents composes again without them, instead of leaving its own items for the next day."""
    subs = [subscription("nta", sources=("nta-news",)), subscription("pref", sources=("pref",))]
    adapter = RecordingAdapter()
    runner = make_runner(feeds(server), subs, adapter)
    publish(server, nta_hidden=2, relay_hidden=3)
    await runner.poll()
    publish(server, nta_hidden=0, relay_hidden=0)
    await runner.poll()
    record_intent = runner.ledger.record_intent
    both_composed = threading.Barrier(2, timeout=10)
    first_claims: list[str] = []

    def claim_after_both_composed(subscription: str, *args: Any, **kwargs: Any) -> None:
        if subscription not in first_claims:
            first_claims.append(subscription)
            both_composed.wait()  # neither digest has claimed anything when the other composes
        record_intent(subscription, *args, **kwargs)

    runner.ledger.record_intent = claim_after_both_composed  # type: ignore[method-assign]
    results = await asyncio.gather(runner.run("nta", poll=False), runner.run("pref", poll=False))
    # Whichever won, the other one posted what was left (if anything: the relay lists all three).
    assert "busy" not in {r.status for r in results} and sum(r.posted for r in results) == 3
    assert sorted(paths(adapter, server)) == sorted([SHOHI, HOJIN, SHOTOKU])
    assert [s.pending for s in runner.status()] == [0, 0]
