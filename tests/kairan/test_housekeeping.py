"""The processed-event ledger and the outbox are pruned while serving: old entries go, recent ones stay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.state.db import open_database
from bot.state.events import EventLedger
from bot.state.outbox import Outbox
from bot.state.threads import ThreadStore
from kairan.housekeeping import prune_events, thread_retention
from manifest.schema import Manifest

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


async def test_claims_older_than_the_retention_are_pruned_until_stopped(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        ledger, outbox = EventLedger(db), Outbox(db)
        for key in ("Ev-old-posted", "Ev-old-pending"):
            outbox.add("slack", key, "C1", None, [{"text": "回答"}], now=NOW - timedelta(days=15))
        outbox.add("slack", "Ev-new-posted", "C1", None, [], now=NOW - timedelta(days=1))
        for entry in outbox.take_due("slack", now=NOW - timedelta(days=1)):
            if entry.key != "Ev-old-pending":
                outbox.delivered(entry)
        assert ledger.claim("slack", "Ev-old", time=NOW - timedelta(days=15))
        assert ledger.claim("slack", "Ev-new", time=NOW - timedelta(days=1))
        stop = asyncio.Event()
        task = asyncio.create_task(prune_events(db, stop, every_s=0.05, clock=lambda: NOW))
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(task, timeout=2)
        # The old claim is gone (claimable again); the recent one still refuses a redelivery.
        assert ledger.claim("slack", "Ev-old", time=NOW)
        assert not ledger.claim("slack", "Ev-new", time=NOW)
        # Finished outbox entries past the retention go; a recent one and any still pending stay.
        with db.read() as conn:
            keys = {row[0] for row in conn.exec_driver_sql("SELECT key FROM outbox")}
        assert keys == {"Ev-old-pending", "Ev-new-posted"}
    finally:
        db.close()


async def test_thread_turns_older_than_the_thread_retention_are_pruned(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        threads = ThreadStore(db)
        threads.append("slack:t:C1:1.0", "user", "古い質問", time=NOW - timedelta(days=31))
        threads.append("slack:t:C1:1.0", "assistant", "古い回答", time=NOW - timedelta(days=31))
        threads.append("slack:t:C1:2.0", "user", "新しい質問", time=NOW - timedelta(days=29))
        stop = asyncio.Event()
        task = asyncio.create_task(
            prune_events(db, stop, every_s=0.05, clock=lambda: NOW, threads_keep=timedelta(days=30))
        )
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(task, timeout=2)
        assert threads.recent("slack:t:C1:1.0") == []
        assert [t.text for t in threads.recent("slack:t:C1:2.0")] == ["新しい質問"]
    finally:
        db.close()


def test_thread_retention_comes_from_the_manifest() -> None:
    assert thread_retention(Manifest()) == timedelta(days=30)
    kept = Manifest.model_validate({"state": {"thread_retention_days": 7}})
    assert thread_retention(kept) == timedelta(days=7)
    forever = Manifest.model_validate({"state": {"thread_retention_days": None}})
    assert thread_retention(forever) is None


async def test_inquiry_offers_older_than_the_retention_are_pruned(tmp_path: Path) -> None:
    from bot.inquiry.store import InquiryStore, Offer

    db = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        store = InquiryStore(db)
        for key, age in (("old", 15), ("new", 1)):
            store.add_offer(Offer(
                key=key, tenant="t", platform="slack", channel="C1", thread=None, message=None, user="U1",
                user_name="U1", question="質問", reply="回答", draft="文案", sources=(), abstained=True,
                created=NOW - timedelta(days=age),
            ))
        stop = asyncio.Event()
        task = asyncio.create_task(prune_events(db, stop, every_s=0.05, clock=lambda: NOW))
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(task, timeout=2)
        assert store.offer("old") is None and store.offer("new") is not None
    finally:
        db.close()
