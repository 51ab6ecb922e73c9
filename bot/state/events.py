"""Processed-event ledger: platforms redeliver events; each one is handled once, across restarts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete

from bot.state.db import Database, insert_new, iso_utc, utc_now
from bot.state.tables import processed_events


class EventLedger:
    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, platform: str, event_id: str, *, time: datetime | None = None) -> bool:
        """True the first time (platform, event_id) is claimed, False every time after."""
        if not platform or not event_id:
            raise ValueError(f"platform and event_id must not be empty, got {platform!r}, {event_id!r}")
        with self.db.write() as conn:
            return insert_new(
                conn, processed_events, platform=platform, event_id=event_id, time=iso_utc(time or utc_now())
            )

    def forget_before(self, moment: datetime) -> int:
        """Drop claims older than ``moment`` (platforms stop redelivering after minutes to hours)."""
        with self.db.write() as conn:
            result = conn.execute(delete(processed_events).where(processed_events.c.time < iso_utc(moment)))
        return int(result.rowcount)
