"""Feedback on answers (👍/👎), attached to the audit record the answer was logged as.

Every vote is appended to ``feedback_log``, a keyed hash chain like the audit log's (head anchored
outside the database the same way); ``feedback`` holds each user's current vote on an answer (a
changed vote replaces it), and ``verify`` checks it against the newest chained vote. A comment is
free text from the user: it is redacted (``bot.redaction``) before it is stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select, update

from bot.redaction import RedactionPolicy, redact_for_storage
from bot.state.anchor import Anchor, AnchorFile, AnchorPublisher
from bot.state.chain import Chain, ChainKey, ChainSpec, Problem, VerifyReport, merge
from bot.state.chain_verify import verify_chain
from bot.state.db import Database, insert_new, iso_utc, utc_now
from bot.state.tables import audit_log, feedback, feedback_log

FeedbackValue = Literal["helpful", "not_helpful"]
_VALUES = ("helpful", "not_helpful")
FEEDBACK_HEAD_ID = 2


def _hashed_fields(row: Mapping[str, Any], seq: int) -> dict[str, Any]:
    fields = {c.name: row[c.name] for c in feedback_log.columns if c.name not in ("hash", "seq")}
    fields["seq"] = int(seq)
    return fields


FEEDBACK_CHAIN = ChainSpec(
    name="feedback", table=feedback_log, head_id=FEEDBACK_HEAD_ID, canonical=_hashed_fields
)


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
    def __init__(
        self,
        db: Database,
        *,
        key: ChainKey | None = None,
        anchor_file: AnchorFile | None = None,
        redaction: RedactionPolicy | None = None,
    ) -> None:
        """``key`` None: read from ``KAIRAN_AUDIT_KEY`` (pass the audit log's ``key``)."""
        self.db = db
        self.key = ChainKey.from_env() if key is None else key
        self.redaction = redaction
        self._chain = Chain(db, FEEDBACK_CHAIN, self.key)
        self._anchors = AnchorPublisher(FEEDBACK_CHAIN.name, self.key, anchor_file)

    def record(
        self, audit_id: str, user_hash: str, value: FeedbackValue, comment: str | None = None,
        *, time: datetime | None = None,
    ) -> FeedbackRecord:
        """Store (or replace: one vote per user and answer) feedback on the answer ``audit_id``."""
        if value not in _VALUES:
            raise ValueError(f"feedback value must be one of {_VALUES}, got {value!r}")
        if comment is not None:
            comment = redact_for_storage(comment, self.redaction)
        stamp = iso_utc(time or utc_now())
        self._chain.ensure_head()
        with self.db.write() as conn:
            known = select(func.count()).select_from(audit_log).where(audit_log.c.id == audit_id)
            if not conn.execute(known).scalar_one():
                raise UnknownAuditRecord(audit_id)
            values = {"value": value, "comment": comment, "time": stamp}
            row = self._chain.append(
                {"id": str(uuid.uuid4()), "audit_id": audit_id, "user_hash": user_hash, **values}, conn
            )
            mine = (feedback.c.audit_id == audit_id) & (feedback.c.user_hash == user_hash)
            if not insert_new(conn, feedback, audit_id=audit_id, user_hash=user_hash, **values):
                # voted before (or at the same moment, on another replica): the vote is replaced
                conn.execute(update(feedback).where(mine).values(**values))
        self._anchors.publish(row["seq"], row["hash"], row["time"])
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

    def verify(self, anchors: Iterable[Anchor] = ()) -> VerifyReport:
        """The chain of votes (as the audit log's), and the current votes against its newest ones."""
        chained = verify_chain(self._chain, anchors)
        if chained.needs_key:
            return chained
        with self.db.read() as conn:
            latest: dict[tuple[str, str], Mapping[str, Any]] = {}
            for row in self._chain.rows(conn):
                latest[(row["audit_id"], row["user_hash"])] = row
            current = list(conn.execute(select(feedback)).mappings())
        problems = merge(chained.problems, current_vote_problems(latest, current))
        return VerifyReport(records=chained.records, problems=problems, unkeyed=chained.unkeyed)


def current_vote_problems(
    latest: Mapping[tuple[str, str], Mapping[str, Any]], current: Iterable[Mapping[Any, Any]]
) -> list[Problem]:
    """Current votes that differ from (or lack, or are missing for) the newest chained vote.

    Votes stored before the feedback chain existed have no chained record: they are not reported.
    """
    problems = []
    seen = set()
    for row in current:
        pair = (row["audit_id"], row["user_hash"])
        seen.add(pair)
        chained = latest.get(pair)
        if chained is None:
            continue
        if any(row[k] != chained[k] for k in ("value", "comment", "time")):
            problems.append(Problem(int(chained["seq"]), str(chained["id"]), "edited",
                                    f"the current vote on answer {pair[0]} differs from its chained record"))
    for pair, chained in latest.items():
        if pair not in seen:
            problems.append(Problem(int(chained["seq"]), str(chained["id"]), "deleted",
                                    f"the current vote on answer {pair[0]} was deleted"))
    return problems
