"""The digest's "answered this week": a subscription that asks for them gets its tenant's 照会 answered in
the last week, each once, through the digest ledger like any feed item."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.digest.config import Subscription
from bot.digest.fetch import Fetcher
from bot.digest.runner import DigestRunner
from bot.digest.summarise import Summariser
from bot.inquiry.store import ANSWER, InquiryStore, Offer
from bot.models import ConversationRef
from bot.state.db import Database
from tests.fakes.adapters import RecordingAdapter

NOW = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)


def answered(
    store: InquiryStore, key: str, question: str, answer: str, *, tenant: str, days_ago: float
) -> None:
    moment = NOW - timedelta(days=days_ago)
    store.add_offer(Offer(
        key=key, tenant=tenant, platform="slack", channel="C0ASK", thread=None, message=None, user="U1",
        user_name="U1", question=question, reply="…", draft="…", sources=(), abstained=True, created=moment,
    ))
    offer = store.offer(key)
    assert offer is not None
    inquiry, _ = store.open(offer, text="…", dest_platform="slack", dest_channel="C0HOUMU", now=moment)
    store.posted(inquiry, message=f"{key}.0", link=None, now=moment)
    store.capture(inquiry.id, platform="slack", channel="C0HOUMU", message=f"{key}.5", kind=ANSWER,
                  text=answer, link=f"https://x.slack.com/archives/C0HOUMU/p{key}5", now=moment)


async def test_a_weekly_digest_lists_the_inquiries_answered_this_week_once(db: Database) -> None:
    store = InquiryStore(db)
    answered(store, "1", "職員の名札に旧姓を使ってよいですか", "差し支えありません。", tenant="city",
             days_ago=2)
    answered(store, "2", "公用車の私用は懲戒の対象ですか", "対象になります。", tenant="city", days_ago=10)
    answered(store, "3", "隣町の照会", "隣町の回答", tenant="town", days_ago=1)
    ref = ConversationRef(platform="console", tenant="city", channel="C-SOUMU")
    weekly = Subscription(id="city-weekly", ref=ref, schedule="0 9 * * mon", sources=(),
                          answered_inquiries=True)
    plain = Subscription(id="city-daily", ref=ref, schedule="0 9 * * *", sources=())
    adapter = RecordingAdapter(name="console")
    runner = DigestRunner(db=db, feeds=[], subscriptions=[weekly, plain], adapters={"console": adapter},
                          fetcher=Fetcher(), summariser=Summariser(llm=None), clock=lambda: NOW)
    result = await runner.run("city-weekly", poll=False)
    assert result.status == "posted"
    [digest] = adapter.digests
    [item] = digest.items
    assert item.title == "照会#1 職員の名札に旧姓を使ってよいですか"
    assert (item.summary, item.source) == ("差し支えありません。", "照会回答")
    assert item.url == "https://x.slack.com/archives/C0HOUMU/p15"
    assert (await runner.run("city-weekly", poll=False)).status == "nothing_new"  # each one once
    assert (await runner.run("city-daily", poll=False)).status == "nothing_new"  # not asked for
    await runner.aclose()
