"""The 照会 loop's state: one inquiry per offer and one answer per message, even when replicas race."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from bot.inquiry.store import ANSWER, ANSWERED, OPEN, InquiryStore, Offer, Source
from bot.state.db import Database

NOW = datetime(2026, 12, 4, 0, 30, tzinfo=UTC)
SOURCE = Source("地方自治法 第百七十二条", "https://laws.e-gov.go.jp/")


def offer(key: str = "audit-1", *, created: datetime = NOW) -> Offer:
    return Offer(
        key=key, tenant="city", platform="slack", channel="C0ASK", thread="1.0", message="1.0",
        user="U0ASKER", user_name="山田", question="山田太郎さんの名札に旧姓を使ってよいですか",
        reply="見つかりませんでした。", draft="（文案）", sources=(SOURCE,), abstained=True, created=created,
    )


def test_racing_replicas_open_one_inquiry_per_offer_and_take_one_answer_per_message(db: Database) -> None:
    store = InquiryStore(db)
    store.add_offer(offer())
    saved = store.offer("audit-1")
    assert saved is not None and saved.sources == (SOURCE,)
    assert saved.question == "［氏名］さんの名札に旧姓を使ってよいですか"  # stored redacted

    def open_it(_: int) -> bool:
        return store.open(saved, text="照会文", dest_platform="slack", dest_channel="C0HOUMU")[1]

    with ThreadPoolExecutor(max_workers=4) as pool:
        created = list(pool.map(open_it, range(8)))
    assert created.count(True) == 1
    [inquiry] = store.listing()
    store.posted(inquiry, message="9.0", link=None)
    assert store.by_thread("slack", "C0HOUMU", "9.0") is not None

    def answer(_: int) -> bool:
        return store.capture(inquiry.id, platform="slack", channel="C0HOUMU", message="9.5", kind=ANSWER,
                             text="差し支えありません。", user="U0HOUMU") is not None

    with ThreadPoolExecutor(max_workers=4) as pool:
        taken = list(pool.map(answer, range(8)))
    assert taken.count(True) == 1
    answered = store.get(inquiry.id)
    assert answered is not None
    assert (answered.state, answered.revision, answered.knowledge_want) == (ANSWERED, 1, 1)
    later = datetime.now(UTC) + timedelta(days=1)
    assert store.answered_between(NOW - timedelta(days=1), later) == [answered]
    assert store.counts() == {("city", ANSWERED): 1}


def test_the_lease_lets_one_worker_at_a_time_and_a_released_row_with_work_left_is_taken_again(
    db: Database,
) -> None:
    store = InquiryStore(db, lease=timedelta(minutes=2), backoff=timedelta(seconds=30))
    store.add_offer(offer())
    saved = store.offer("audit-1")
    assert saved is not None
    inquiry, _ = store.open(saved, text="照会文", dest_platform="slack", dest_channel="C0HOUMU", now=NOW)
    assert store.take(inquiry.id, now=NOW) is None  # the opener holds it
    assert store.take_due(now=NOW + timedelta(minutes=1)) == []
    [taken] = store.take_due(now=NOW + timedelta(minutes=3))  # its bot stopped: a replica takes it
    assert taken.attempts == 2
    assert store.release(taken, retry=True, now=NOW + timedelta(minutes=3))  # an outage: later, work left
    assert store.take_due(now=NOW + timedelta(minutes=3, seconds=20)) == []
    [again] = store.take_due(now=NOW + timedelta(minutes=4))
    store.posted(again, message="9.0", link="https://example/9")
    store.told(again, 1)
    assert not store.release(again, now=NOW + timedelta(minutes=4))  # nothing left to do
    done = store.get(inquiry.id)
    assert done is not None and done.state == OPEN and not done.work and done.dest_link == "https://example/9"


def test_old_offers_are_forgotten_and_the_latest_of_an_asker_is_found(db: Database) -> None:
    store = InquiryStore(db)
    store.add_offer(offer("old", created=NOW - timedelta(days=9)))
    store.add_offer(offer("new", created=NOW - timedelta(hours=1)))
    latest = store.latest_offer("slack", "C0ASK", "U0ASKER", since=NOW - timedelta(days=7))
    assert latest is not None and latest.key == "new"
    assert store.latest_offer("slack", "C0ASK", "U0OTHER", since=NOW - timedelta(days=7)) is None
    assert store.forget_offers_before(NOW - timedelta(days=7)) == 1
    assert store.offer("old") is None


def test_serve_reports_the_unanswered_inquiries_per_tenant(db: Database) -> None:
    from kairan.serve import inquiries_open

    store = InquiryStore(db)
    for key in ("a", "b"):
        store.add_offer(offer(key))
        saved = store.offer(key)
        assert saved is not None
        store.open(saved, text="照会文", dest_platform="slack", dest_channel="C0HOUMU")
    [first, _] = store.listing()
    store.posted(first, message="1.0", link=None)
    store.capture(first.id, platform="slack", channel="C0HOUMU", message="1.5", kind=ANSWER, text="回答")
    assert inquiries_open(db) == {"city": 1}
