"""End to end: feeds served from 127.0.0.1 link to real 国税庁 pages; a recording adapter posts."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from anthropic import AsyncAnthropic

from bot.digest.feeds import FeedItem
from bot.digest.ledger import INTENT, POSTED
from bot.digest.runner import DigestRunner, UnknownSubscription
from bot.llm.anthropic_provider import AnthropicProvider
from bot.models import Digest
from bot.phrasing_author import LLMPhrasingAuthor
from knowledge.ingest import Ingestor
from knowledge.phrasings import PhrasingSources, load_file
from knowledge.store import KnowledgeStore
from tests.bot.digest.conftest import (
    Clock,
    RunnerFactory,
    atom_feed,
    drop_newest,
    fixture,
    rdf_feed,
    rss_feed,
    subscription,
)
from tests.fakes.adapters import CheckingRecordingAdapter, IdempotentRecordingAdapter, RecordingAdapter
from tests.fakes.feed_server import FeedServer
from tests.fakes.llm_servers import FakeAnthropicServer
from tests.fakes.phrasing_llm import PhrasingResponder

RDF = "nta_news_shift_jis.rdf"
NEW_RDF_TITLES = {
    "消費税法基本通達の一部改正について（法令解釈通達）",
    "法人課税部門における書面添付制度の運用に当たっての基本的な考え方及び事務手続等について（事務運営指針）",
}


@dataclass
class ItemLimitedRecordingAdapter(RecordingAdapter):
    """A recording adapter that shows at most ``max_digest_items`` items in one post (LimitsDigestItems)."""

    max_digest_items: int = field(kw_only=True)


class Killed(BaseException):
    """The process dies: nothing after this point runs."""


def publish_rdf(server: FeedServer, *, hidden: int) -> None:
    """Serve the RDF feed as it was before its ``hidden`` newest items appeared."""
    data = fixture(RDF)
    server.put("/news.rdf", drop_newest(data, hidden) if hidden else data, "application/rdf+xml")


def titles(digest: Digest) -> set[str]:
    return {i.title for i in digest.items}


async def test_new_items_are_ingested_summarised_and_posted_once(
    server: FeedServer, make_runner: RunnerFactory, tmp_path: Path
) -> None:
    store = KnowledgeStore(tmp_path / "kb")
    adapter = RecordingAdapter()
    feed = rdf_feed(server)
    runner = make_runner([feed], [subscription()], adapter, ingestor=Ingestor(store=store, workers=1))

    publish_rdf(server, hidden=2)
    first = await runner.run("soumu-weekday")
    assert first.status == "nothing_new" and first.polls[0].baseline  # the existing items are the baseline
    assert adapter.sent == []

    publish_rdf(server, hidden=0)
    second = await runner.run("soumu-weekday")
    assert second.status == "posted" and second.posted == 2
    assert len(adapter.digests) == 1
    digest = adapter.digests[0]
    assert adapter.sent[0][0].channel == "C-SOUMU"
    assert titles(digest) == NEW_RDF_TITLES
    newest = digest.items[0]
    assert newest.published == "2026-04-01" and newest.source == "nta-news"
    assert newest.url == server.url("/law/tsutatsu/kihon/shohi/kaisei/0026003-067/index.htm")
    assert newest.summary.startswith("消費税法基本通達（平成７年12月25日付課消２－25ほか４課共同")
    # The documents are in the knowledge base, answerable the moment they are announced.
    stored = store.documents()
    assert {d.title for d in stored.values()} == {
        "消費税法基本通達の一部改正について（法令解釈通達）",
        "法人課税部門における書面添付制度の運用に当たっての基本的な考え方及び事務手続等について(事務運営指針)",
    }
    assert {d.collection for d in stored.values()} == {"circulars"}

    third = await runner.run("soumu-weekday")
    assert third.status == "nothing_new" and len(adapter.digests) == 1
    # Second and third polls were conditional: 304 once nothing changed.
    assert [h.status for h in server.hits("/news.rdf")] == [200, 200, 304]
    assert server.hits("/news.rdf")[2].if_none_match is not None


async def test_filters_and_max_items_carry_over(server: FeedServer, make_runner: RunnerFactory) -> None:
    server.put("/feeds/kihon.rss", b'<rss version="2.0"><channel><title>t</title></channel></rss>')
    server.put("/feeds/sozoku.atom", drop_newest(fixture("nta_sozoku.atom"), 3))
    adapter = RecordingAdapter()
    subs = [
        subscription("kihon-hojin", sources=("nta-kihon",), categories=("法人税", "消費税"), max_items=1),
        subscription("sozoku-enno", sources=("nta-sozoku",), keywords=("延納",)),
    ]
    runner = make_runner([rss_feed(server), atom_feed(server)], subs, adapter)
    await runner.poll()  # baseline: both feeds empty
    server.put("/feeds/kihon.rss", fixture("nta_kihon.rss"))
    server.put("/feeds/sozoku.atom", fixture("nta_sozoku.atom"))

    first = await runner.run("kihon-hojin")
    second = await runner.run("kihon-hojin")
    third = await runner.run("kihon-hojin")
    assert [titles(r.digest) for r in (first, second)] == [  # oldest first, the rest carried over
        {"第3款　定期同額給与（法人税基本通達）"},
        {"第4節　納税義務の免除（消費税法基本通達）"},
    ]
    assert third.status == "nothing_new"  # 所得税 never matches the category filter
    enno = await runner.run("sozoku-enno")
    assert [i.title for i in enno.digest.items] == ["第38条《延納の要件》関係"]
    assert enno.digest.items[0].summary.startswith(
        "法第38条第1項に規定する「納付すべき相続税額が10万円を超え」る"
    )
    assert len(adapter.digests) == 3



async def test_a_platform_that_shows_fewer_items_per_post_gets_the_rest_next_time(
    server: FeedServer, make_runner: RunnerFactory
) -> None:
    server.put("/feeds/kihon.rss", b'<rss version="2.0"><channel><title>t</title></channel></rss>')
    # e.g. Slack: 24 items fill one message's 50 blocks
    adapter = ItemLimitedRecordingAdapter(max_digest_items=1)
    subs = [subscription("kihon-hojin", sources=("nta-kihon",), categories=("法人税", "消費税"), max_items=5)]
    runner = make_runner([rss_feed(server)], subs, adapter)
    await runner.poll()
    server.put("/feeds/kihon.rss", fixture("nta_kihon.rss"))
    runs = [await runner.run("kihon-hojin") for _ in range(3)]
    assert [len(r.digest.items) for r in runs[:2]] == [1, 1] and runs[2].status == "nothing_new"
    assert [titles(d) for d in adapter.digests] == [
        {"第3款　定期同額給与（法人税基本通達）"},
        {"第4節　納税義務の免除（消費税法基本通達）"},
    ]

@pytest.mark.parametrize("failure", ["500", "invalid_xml", "oversized"])
async def test_a_broken_source_is_skipped_with_one_error_while_others_proceed(
    server: FeedServer, make_runner: RunnerFactory, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    adapter = RecordingAdapter()
    runner = make_runner([rdf_feed(server), rss_feed(server)], [subscription()], adapter)
    publish_rdf(server, hidden=2)
    server.put("/feeds/kihon.rss", fixture("nta_kihon.rss"))
    await runner.poll()
    publish_rdf(server, hidden=0)
    server.fail("/feeds/kihon.rss", failure)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="bot.digest"):
        result = await runner.run("soumu-weekday")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "digest source nta-kihon" in errors[0].getMessage()
    assert {p.source_id: p.error is not None for p in result.polls} == {"nta-news": False, "nta-kihon": True}
    assert result.status == "posted" and titles(result.digest) == NEW_RDF_TITLES
    # The failing source keeps its validators and recovers on the next poll.
    server.heal("/feeds/kihon.rss")
    again = await runner.poll(["nta-kihon"])
    assert again[0].error is None and again[0].not_modified


async def restarted_after_a_kill(
    server: FeedServer, make_runner: RunnerFactory, adapter: RecordingAdapter
) -> DigestRunner:
    """Two new notices polled, a digest run that ``adapter`` kills while posting them, and a runner
    started again on the same database (a new process)."""
    feeds, subs = [rdf_feed(server)], [subscription()]
    runner = make_runner(feeds, subs, adapter)
    publish_rdf(server, hidden=2)
    await runner.poll()
    publish_rdf(server, hidden=0)
    with pytest.raises(Killed):
        await runner.run("soumu-weekday")
    return make_runner(feeds, subs, adapter)


async def test_kill_between_send_and_record_posts_exactly_once_when_the_adapter_can_check(
    server: FeedServer, make_runner: RunnerFactory
) -> None:
    adapter = CheckingRecordingAdapter()
    feeds, subs = [rdf_feed(server)], [subscription()]
    runner = make_runner(feeds, subs, adapter)
    publish_rdf(server, hidden=2)
    await runner.poll()
    publish_rdf(server, hidden=0)
    adapter.crash_after_send = Killed()
    with pytest.raises(Killed):
        await runner.run("soumu-weekday")
    assert len(adapter.digests) == 1
    assert {state for _, _, state in runner.ledger.ledger_rows("soumu-weekday")} == {INTENT}

    restarted = make_runner(feeds, subs, adapter)  # a new process on the same database
    assert restarted.status()[0].in_doubt == 2
    reconciled = await restarted.reconcile()
    assert len(reconciled.confirmed) == 1 and not reconciled.released
    result = await restarted.run("soumu-weekday")
    assert result.status == "nothing_new"
    assert len(adapter.digests) == 1
    assert [s for _, _, s in restarted.ledger.ledger_rows("soumu-weekday")] == [POSTED, POSTED]


async def test_kill_before_the_post_happened_releases_the_items(
    server: FeedServer, make_runner: RunnerFactory
) -> None:
    adapter = CheckingRecordingAdapter(fail_before_send=Killed())
    restarted = await restarted_after_a_kill(server, make_runner, adapter)
    reconciled = await restarted.reconcile()
    assert len(reconciled.released) == 1
    result = await restarted.run("soumu-weekday")
    assert result.status == "posted" and titles(adapter.digests[0]) == NEW_RDF_TITLES
    assert len(adapter.digests) == 1


async def test_kill_with_an_idempotent_adapter_resends_the_same_digest(
    server: FeedServer, make_runner: RunnerFactory
) -> None:
    adapter = IdempotentRecordingAdapter(crash_after_send=Killed())
    restarted = await restarted_after_a_kill(server, make_runner, adapter)
    reconciled = await restarted.reconcile()
    assert len(reconciled.resent) == 1
    assert adapter.deduplicated == 1 and len(adapter.digests) == 1
    assert (await restarted.run("soumu-weekday")).status == "nothing_new"


async def test_kill_with_an_adapter_that_cannot_tell_is_at_most_once(
    server: FeedServer, make_runner: RunnerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = RecordingAdapter(crash_after_send=Killed())
    restarted = await restarted_after_a_kill(server, make_runner, adapter)
    with caplog.at_level(logging.ERROR, logger="bot.digest"):
        reconciled = await restarted.reconcile()
    assert len(reconciled.assumed) == 1
    assert "may or may not have been posted" in caplog.text and "消費税法基本通達の一部改正" in caplog.text
    assert (await restarted.run("soumu-weekday")).status == "nothing_new"
    assert len(adapter.digests) == 1


async def test_a_failed_send_puts_the_items_back(server: FeedServer, make_runner: RunnerFactory) -> None:
    adapter = RecordingAdapter(fail_before_send=ConnectionError("slack unreachable"))
    runner = make_runner([rdf_feed(server)], [subscription()], adapter)
    publish_rdf(server, hidden=2)
    await runner.poll()
    publish_rdf(server, hidden=0)
    failed = await runner.run("soumu-weekday")
    assert failed.status == "send_failed" and adapter.sent == []
    assert runner.ledger.ledger_rows("soumu-weekday") == []
    retried = await runner.run("soumu-weekday")
    assert retried.status == "posted" and titles(adapter.digests[0]) == NEW_RDF_TITLES


async def test_restart_between_two_ticks_no_duplicate_no_gap(
    server: FeedServer, make_runner: RunnerFactory, clock: Clock
) -> None:
    adapter = RecordingAdapter()
    feeds, subs = [rdf_feed(server)], [subscription()]
    data = fixture(RDF)
    server.put("/news.rdf", drop_newest(data, 3))
    await make_runner(feeds, subs, adapter).run("soumu-weekday")  # baseline tick
    server.put("/news.rdf", drop_newest(data, 2))
    clock.advance(days=1)
    tick1 = await make_runner(feeds, subs, adapter).run("soumu-weekday")
    # Down between the ticks; two more notices appear meanwhile.
    server.put("/news.rdf", data)
    clock.advance(days=1)
    tick2 = await make_runner(feeds, subs, adapter).run("soumu-weekday")
    assert [titles(d) for d in adapter.digests] == [
        {"相続税、贈与税の過少申告加算税及び無申告加算税の取扱いについて（事務運営指針）"},
        NEW_RDF_TITLES,
    ]
    assert (tick1.posted, tick2.posted) == (1, 2)


async def test_dry_run_posts_nothing_and_records_no_ledger_row(
    server: FeedServer, make_runner: RunnerFactory
) -> None:
    adapter = RecordingAdapter()
    runner = make_runner([rdf_feed(server)], [subscription()], adapter)
    publish_rdf(server, hidden=2)
    await runner.poll()
    publish_rdf(server, hidden=0)
    preview = await runner.run("soumu-weekday", dry_run=True)
    assert preview.status == "dry_run" and titles(preview.digest) == NEW_RDF_TITLES
    assert adapter.sent == [] and runner.ledger.ledger_rows("soumu-weekday") == []
    assert runner.status()[0].pending == 2
    with pytest.raises(UnknownSubscription, match="no digest subscription 'nope'"):
        await runner.run("nope")


async def test_post_when_empty(server: FeedServer, make_runner: RunnerFactory) -> None:
    adapter = RecordingAdapter()
    runner = make_runner([rdf_feed(server)], [subscription(post_when_empty=True)], adapter)
    publish_rdf(server, hidden=0)
    result = await runner.run("soumu-weekday")
    assert result.status == "empty_posted"
    assert adapter.digests == [Digest(subscription="soumu-weekday", items=())]


async def test_egov_revisions_are_announced_and_the_law_ingested(
    make_runner: RunnerFactory, tmp_path: Path
) -> None:
    from bot.digest.config import FeedSource
    from knowledge.egov_client import EgovClient
    from tests.conftest import CORPUS
    from tests.fakes.egov_server import EgovMockServer

    async with EgovMockServer(CORPUS) as egov:
        feed = FeedSource(
            id="egov",
            kind="egov_revisions",
            url=egov.base_url,
            collection="laws",
            law_ids=("405AC0000000088",),
        )
        store = KnowledgeStore(tmp_path / "kb")
        adapter = RecordingAdapter()
        runner = make_runner(
            [feed], [subscription()], adapter, ingestor=Ingestor(store=store, workers=1),
            egov=lambda url: EgovClient(base_url=url, retries=0), announce_existing=True,
        )  # fmt: skip
        try:
            result = await runner.run("soumu-weekday")
        finally:
            await runner.aclose()
    assert result.status == "posted" and result.posted >= 1
    item = result.digest.items[0]
    assert item.title == "行政手続法 の改正"
    assert item.url == "https://laws.e-gov.go.jp/law/405AC0000000088"
    assert "405AC0000000088" in store.documents()


def test_feed_item_is_hashable_value() -> None:
    a = FeedItem("id", "t", "u", "", "")
    assert a == FeedItem("id", "t", "u", "", "") and len({a, a}) == 1


async def test_new_notices_get_phrasings_from_the_llm_when_ingested(
    server: FeedServer, make_runner: RunnerFactory, tmp_path: Path
) -> None:
    """The digest's ingest goes through the same Ingestor: with an author, new notices get phrasings."""
    store = KnowledgeStore(tmp_path / "kb")
    generated = tmp_path / "phrasings"
    async with FakeAnthropicServer(api_key="test-key") as llm:
        responder = PhrasingResponder()
        llm.respond(responder)

        def provider() -> AnthropicProvider:
            client = AsyncAnthropic(api_key="test-key", base_url=llm.base_url)
            return AnthropicProvider(client=client, provider_name="anthropic", model="claude-sonnet-4-6")

        ingestor = Ingestor(
            store=store,
            workers=1,
            phrasings=PhrasingSources(shipped=False, generated=generated),
            phrasing_author=LLMPhrasingAuthor(provider_factory=provider, label="anthropic claude-sonnet-4-6"),
        )
        runner = make_runner([rdf_feed(server)], [subscription()], RecordingAdapter(), ingestor=ingestor)
        publish_rdf(server, hidden=2)
        await runner.run("soumu-weekday")
        assert llm.requests == []  # the baseline is not ingested
        publish_rdf(server, hidden=0)
        assert (await runner.run("soumu-weekday")).posted == 2
    files = {load_file(p, origin="generated").doc_id: p for p in generated.glob("*.yaml")}
    assert set(files) == set(store.documents())
    asked = sum(len(labels) for labels in responder.asked)
    indexed = store.phrasings.to_arrow().to_pylist()
    assert asked > 0 and len(indexed) == 2 * asked and {r["origin"] for r in indexed} == {"generated"}
