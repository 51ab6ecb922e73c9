"""The processed-event ledger is pruned while serving: old claims go, recent ones stay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.state.db import open_database
from bot.state.events import EventLedger
from kairan.housekeeping import prune_events

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


async def test_claims_older_than_the_retention_are_pruned_until_stopped(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        ledger = EventLedger(db)
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
    finally:
        db.close()
