"""Feedback on answers (👍/👎), attached to the audit record the answer was logged as."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select

from bot.state.db import Database, iso_utc, upsert, utc_now
from bot.state.tables import audit_log, feedback

FeedbackValue = Literal["helpful", "not_helpful"]
_VALUES = ("helpful", "not_helpful")


class UnknownAuditRecord(LookupError):
    def __init__(self, audit_id: str) -> None:
        self.audit_id = audit_id
        super().__init__(f"no audit record with id {audit_id!r}: feedback must refer to a logged answer")


@dataclass(frozen=True)
class FeedbackRecord:
    audit_id: str
    user_hash: str
    value: FeedbackValue
    comment: str | None
    time: str


class FeedbackStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self, audit_id: str, user_hash: str, value: FeedbackValue, comment: str | None = None,
        *, time: datetime | None = None,
    ) -> FeedbackRecord:
        """Store (or replace: one vote per user and answer) feedback on the answer ``audit_id``."""
        if value not in _VALUES:
            raise ValueError(f"feedback value must be one of {_VALUES}, got {value!r}")
        stamp = iso_utc(time or utc_now())
        with self.db.write() as conn:
            known = select(func.count()).select_from(audit_log).where(audit_log.c.id == audit_id)
            if not conn.execute(known).scalar_one():
                raise UnknownAuditRecord(audit_id)
            # One vote per user and answer: a vote given before (or at the same moment, on another
            # replica) is replaced.
            row = {"audit_id": audit_id, "user_hash": user_hash, "value": value, "comment": comment,
                   "time": stamp}
            upsert(conn, feedback, row, keys=("audit_id", "user_hash"))
        return FeedbackRecord(audit_id, user_hash, value, comment, stamp)

    def for_answer(self, audit_id: str) -> list[FeedbackRecord]:
        query = select(feedback).where(feedback.c.audit_id == audit_id).order_by(feedback.c.id)
        with self.db.read() as conn:
            return [FeedbackRecord(r.audit_id, r.user_hash, r.value, r.comment, r.time)
                    for r in conn.execute(query)]

    def counts(self) -> dict[str, int]:
        """How many answers were voted helpful / not_helpful, over all time."""
        query = select(feedback.c.value, func.count()).group_by(feedback.c.value)
        with self.db.read() as conn:
            found = {value: int(n) for value, n in conn.execute(query)}
        return {value: found.get(value, 0) for value in _VALUES}
