"""Questions being answered, so that one whose bot died mid-answer is answered later, not lost.

A platform event is claimed once (``processed_events``) and, in the same transaction, recorded
here with what the adapter needs to answer it again. The row is dropped when the question is
done (answered, apologised for, or its answer handed to the outbox); while the answer takes long
(LLM retries) the adapter ``touch``es it every third of ``stale_after``. A row not touched for
``stale_after`` means its process died (``kill -9``, out of memory, a lost machine): the platform
will not redeliver an event that was acknowledged, so a replica's resume loop takes the row
(compare-and-set on ``next_at``, which doubles as the lease) and answers it. After
``max_attempts`` resumptions (a question that brings its bot down every time) it is given up.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from bot.redaction import RedactionPolicy, redact_payload
from bot.state.db import Database, insert_new, iso_utc, utc_now
from bot.state.tables import processed_events, questions_in_flight

_TABLE = questions_in_flight.c
_BEGIN = insert(questions_in_flight)  # built once; values are bound per call
_DONE = delete(questions_in_flight).where(
    _TABLE.platform == bindparam("p"), _TABLE.event_id == bindparam("e")
)


@dataclass(frozen=True)
class Interrupted:
    event_id: str
    payload: dict[str, Any]
    started: datetime
    attempts: int  # resumptions including the one this row was just taken for


class InFlight:
    def __init__(
        self,
        db: Database,
        *,
        stale_after: timedelta = timedelta(minutes=2),
        max_attempts: int = 2,
        redaction: RedactionPolicy | None = None,
    ) -> None:
        self.db = db
        self.stale_after = stale_after
        self.max_attempts = max_attempts
        self.redaction = redaction  # None: every kind of personal data is masked in stored payloads

    def claim(
        self, platform: str, event_id: str, payload: dict[str, Any], *, now: datetime | None = None
    ) -> bool:
        """Claim the event (True the first time only) and record the question as being answered.

        The payload's text fields are redacted before they are stored (``bot.redaction.redact_payload``):
        the question answered again after a crash is the redacted one, as the engine would see it.
        """
        if not platform or not event_id:
            raise ValueError(f"platform and event_id must not be empty, got {platform!r}, {event_id!r}")
        moment = now or utc_now()
        stored = json.dumps(redact_payload(payload, self.redaction), ensure_ascii=False)
        with self.db.write() as conn:
            claimed = insert_new(
                conn, processed_events, platform=platform, event_id=event_id, time=iso_utc(moment)
            )
            if not claimed:
                return False
            conn.execute(_BEGIN, {  # no row can exist: the claim above was the first
                "platform": platform, "event_id": event_id,
                "payload": stored, "started": iso_utc(moment),
                "next_at": iso_utc(moment + self.stale_after), "attempts": 0,
            })
        return True

    def touch(self, platform: str, event_id: str, *, now: datetime | None = None) -> None:
        """Still being answered: not interrupted for another ``stale_after``."""
        moment = now or utc_now()
        with self.db.write() as conn:
            conn.execute(
                update(questions_in_flight)
                .where(_TABLE.platform == platform, _TABLE.event_id == event_id)
                .values(next_at=iso_utc(moment + self.stale_after))
            )

    def done(self, platform: str, event_id: str) -> None:
        with self.db.write() as conn:
            conn.execute(_DONE, {"p": platform, "e": event_id})

    def take_interrupted(
        self,
        platform: str,
        *,
        now: datetime | None = None,
        limit: int = 20,
        answering: Collection[str] = (),
    ) -> list[Interrupted]:
        """Questions left unfinished past ``stale_after``, oldest first, each taken by this caller only.

        ``answering`` are the caller's own questions still being answered: late touches (a busy machine)
        must not make a replica answer its own question a second time.
        """
        moment = now or utc_now()
        due = (_TABLE.platform == platform) & (_TABLE.next_at <= iso_utc(moment))
        if answering:
            due = due & _TABLE.event_id.not_in(list(answering))
        with self.db.read() as conn:
            rows = conn.execute(
                select(questions_in_flight).where(due).order_by(_TABLE.next_at).limit(limit)
            ).mappings().all()
        taken: list[Interrupted] = []
        for row in rows:
            with self.db.write() as conn:
                won = conn.execute(
                    update(questions_in_flight)
                    .where(_TABLE.platform == platform, _TABLE.event_id == row["event_id"])
                    .where(_TABLE.next_at == row["next_at"])  # another replica may have taken it
                    .values(next_at=iso_utc(moment + self.stale_after), attempts=row["attempts"] + 1)
                ).rowcount == 1
            if won:
                taken.append(Interrupted(
                    event_id=row["event_id"], payload=json.loads(row["payload"]),
                    started=datetime.fromisoformat(row["started"]), attempts=row["attempts"] + 1,
                ))
        return taken

    def pending(self, platform: str) -> int:
        """Questions being answered now or left unfinished."""
        with self.db.read() as conn:
            count = select(func.count()).select_from(questions_in_flight).where(_TABLE.platform == platform)
            return int(conn.execute(count).scalar_one())
