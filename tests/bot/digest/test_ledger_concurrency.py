"""Replicas recording the same feed items at the same moment: no error, each item recorded once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from bot.digest.feeds import FeedItem
from bot.digest.ledger import DigestLedger
from bot.state.db import Database, open_database

NOW = datetime(2025, 4, 1, tzinfo=UTC)
ITEMS = [FeedItem(id=f"https://example.jp/{i}", title=f"通知{i}", url=f"https://example.jp/{i}",
                  published="2025-04-01", category="", summary="") for i in range(20)]


def test_concurrent_replicas_record_each_item_once(db: Database, state_url: str) -> None:
    start = threading.Barrier(4, timeout=30)
    fresh: list[list[str]] = []
    created: list[str] = []
    errors: list[BaseException] = []

    def replica(n: int) -> None:
        try:
            with open_database(state_url) as own:  # one engine per replica
                ledger = DigestLedger(own)
                start.wait()
                created.append(ledger.ensure_subscription("sub", now=NOW.replace(minute=n)))
                fresh.append([i.id for i in ledger.record_items("src", ITEMS, baseline=False, now=NOW)])
                ledger.save_source_state("src", now=NOW, ok=True, etag=f"e{n}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=replica, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    recorded = [item for batch in fresh for item in batch]
    assert sorted(recorded) == sorted(i.id for i in ITEMS)  # every item returned by exactly one replica
    assert len(set(created)) == 1  # one first-seen time for the subscription
    ledger = DigestLedger(db)
    assert ledger.item_count("src") == 20
    state = ledger.source_state("src")
    assert state is not None and state.etag in {"e0", "e1", "e2", "e3"}
