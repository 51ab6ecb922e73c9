"""Replies a chat platform did not take, kept in the state database and posted again later.

When the platform still fails after the adapter's own retries (an outage, not a blip), the
messages not yet posted are stored here instead of being lost. The adapter's redelivery loop
takes due entries and posts them in order; an entry is taken by one replica at a time (taking it
moves ``next_at`` past a lease, compare-and-set), so two bots never post it together. After
``give_up_after`` an entry is abandoned with one error line.

A platform that stored a message but answered 5xx can still get it twice; that is the price of
not losing it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update

from bot.state.db import Database, insert_new, iso_utc, utc_now
from bot.state.retry import retry_delay
from bot.state.tables import outbox

log = logging.getLogger(__name__)

PENDING, DELIVERED, ABANDONED = "pending", "delivered", "abandoned"


@dataclass(frozen=True)
class Queued:
    id: int
    key: str
    channel: str
    thread: str | None
    messages: list[Any]
    attempts: int  # including the one this entry was just taken for
    created: datetime


class Outbox:
    def __init__(
        self,
        db: Database,
        *,
        lease: timedelta = timedelta(minutes=2),
        backoff: timedelta = timedelta(seconds=30),
        max_backoff: timedelta = timedelta(minutes=10),
        give_up_after: timedelta = timedelta(hours=24),
    ) -> None:
        self.db = db
        self.lease = lease
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.give_up_after = give_up_after

    def add(
        self, platform: str, key: str, channel: str, thread: str | None, messages: Sequence[Any],
        *, now: datetime | None = None,
    ) -> bool:
        """Queue ``messages`` (JSON-able) for ``channel``; False when this answer is already queued."""
        moment = iso_utc(now or utc_now())
        with self.db.write() as conn:
            return insert_new(
                conn, outbox, platform=platform, key=key, channel=channel, thread=thread,
                messages=_json(messages), created=moment, next_at=moment,
                attempts=0, state=PENDING,
            )

    def take_due(self, platform: str, *, now: datetime | None = None, limit: int = 20) -> list[Queued]:
        """Entries due now, oldest first, each taken for this caller until its lease ends."""
        moment = now or utc_now()
        due = (outbox.c.platform == platform) & (outbox.c.state == PENDING)
        due &= outbox.c.next_at <= iso_utc(moment)
        with self.db.read() as conn:
            rows = conn.execute(select(outbox).where(due).order_by(outbox.c.id).limit(limit)).mappings().all()
        taken: list[Queued] = []
        for row in rows:
            with self.db.write() as conn:
                unchanged = (outbox.c.state == PENDING) & (outbox.c.next_at == row["next_at"])
                won = conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row["id"], unchanged)
                    .values(next_at=iso_utc(moment + self.lease), attempts=row["attempts"] + 1)
                ).rowcount == 1
            if won:  # another replica may have taken it between the read and here
                taken.append(Queued(
                    id=row["id"], key=row["key"], channel=row["channel"], thread=row["thread"],
                    messages=json.loads(row["messages"]), attempts=row["attempts"] + 1,
                    created=datetime.fromisoformat(row["created"]),
                ))
        return taken

    def delivered(self, entry: Queued) -> None:
        self._set(entry, state=DELIVERED, messages="[]")

    def retry_later(self, entry: Queued, remaining: Sequence[Any], *, now: datetime | None = None) -> bool:
        """Keep the messages not yet posted for a later attempt; False once the entry was abandoned."""
        moment = now or utc_now()
        if moment - entry.created >= self.give_up_after:
            self.abandon(entry, remaining)
            return False
        delay = retry_delay(entry.attempts, base=self.backoff, cap=self.max_backoff)
        self._set(entry, next_at=iso_utc(moment + delay), messages=_json(remaining))
        return True

    def abandon(self, entry: Queued, remaining: Sequence[Any]) -> None:
        self._set(entry, state=ABANDONED, messages=_json(remaining))

    def pending(self, platform: str) -> int:
        waiting = (outbox.c.platform == platform) & (outbox.c.state == PENDING)
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(outbox).where(waiting)).scalar_one())

    def forget_finished_before(self, moment: datetime) -> int:
        """Drop delivered and abandoned entries queued before ``moment`` (the audit log keeps the answers)."""
        finished = outbox.c.state.in_((DELIVERED, ABANDONED)) & (outbox.c.created < iso_utc(moment))
        with self.db.write() as conn:
            return int(conn.execute(delete(outbox).where(finished)).rowcount)

    def _set(self, entry: Queued, **values: Any) -> None:
        with self.db.write() as conn:
            conn.execute(update(outbox).where(outbox.c.id == entry.id).values(**values))


def _json(messages: Sequence[Any]) -> str:
    return json.dumps(list(messages), ensure_ascii=False)
