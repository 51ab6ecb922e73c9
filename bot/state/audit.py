"""Tamper-evident audit log: append-only records, each hash-chained to the one before it.

``hash = sha256(canonical JSON of every field, prev_hash included)``; ``prev_hash`` of the first
record is 64 zeros. A one-row ``audit_head`` table holds the last seq and hash: appends lock it
(``BEGIN IMMEDIATE`` on SQLite, ``SELECT … FOR UPDATE`` on PostgreSQL) so concurrent appends never
fork the chain, and ``verify`` uses it to notice records deleted from, or added to, the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Literal

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.models import Answer, ConversationRef, Source
from bot.state.db import Database, iso_utc, utc_now
from bot.state.tables import audit_head, audit_log

GENESIS = "0" * 64
SALT_ENV = "KAIRAN_AUDIT_SALT"
_SALT_META_KEY = "audit_salt"
_HEAD_ID = 1
# Statements built once: the values go in as parameters (building a statement per call costs more
# CPU than running it on SQLite).
_HEAD_FOR_UPDATE = (
    select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == _HEAD_ID).with_for_update()
)
_INSERT_RECORD = insert(audit_log)
_MOVE_HEAD = update(audit_head).where(audit_head.c.id == _HEAD_ID)

ProblemKind = Literal["edited", "deleted", "reordered", "inserted"]


@dataclass(frozen=True)
class CitedSource:
    n: int
    doc_id: str
    article: str
    url: str
    sha256: str
    verified: bool


@dataclass(frozen=True)
class AuditEntry:
    """What the caller logs; the question must already be redacted."""

    tenant: str
    channel: str
    user_hash: str
    question: str
    answer: str
    sources: tuple[CitedSource, ...] = ()
    model: str = ""
    provider: str = "none"
    input_tokens: int = 0
    output_tokens: int = 0
    abstained: bool = False


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    id: str
    time: str  # UTC, 2025-05-01T03:04:05.123456Z
    tenant: str
    channel: str
    user_hash: str
    question: str
    answer: str
    sources: tuple[CitedSource, ...]
    model: str
    provider: str
    input_tokens: int
    output_tokens: int
    abstained: bool
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Problem:
    seq: int
    id: str | None  # None when the record is gone
    kind: ProblemKind
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    records: int
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# --- hashing -----------------------------------------------------------------------------------


def hash_user(salt: str, user_id: str) -> str:
    return hashlib.sha256(f"{salt}\x00{user_id}".encode()).hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _hashed_fields(row: Mapping[Any, Any], seq: int) -> dict[str, Any]:
    """Every stored field except ``hash`` (``seq`` given separately), in canonical form."""
    fields = {c.name: row[c.name] for c in audit_log.columns if c.name not in ("hash", "seq")}
    fields["seq"] = int(seq)
    fields["sources"] = json.loads(fields["sources"])
    fields["abstained"] = bool(fields["abstained"])
    fields["input_tokens"] = int(fields["input_tokens"])
    fields["output_tokens"] = int(fields["output_tokens"])
    return fields


def record_hash(row: Mapping[Any, Any], seq: int | None = None) -> str:
    """sha256 of the canonical JSON of a stored row's fields (with ``seq`` replaced if given)."""
    try:
        fields = _hashed_fields(row, row["seq"] if seq is None else seq)
    except (ValueError, TypeError):  # unreadable sources JSON or numbers: cannot match
        return ""
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


# --- the log -----------------------------------------------------------------------------------


def audit_salt(db: Database, *, environ: Mapping[str, str] | None = None, env_name: str = SALT_ENV) -> str:
    """The per-install salt: the environment variable if set, else one generated and kept in the DB."""
    value = (os.environ if environ is None else environ).get(env_name, "").strip()
    return value or db.new_secret(_SALT_META_KEY)


class AuditLog:
    def __init__(self, db: Database, *, salt: str | None = None) -> None:
        self.db = db
        self._salt = salt
        self._head_ready = False

    @property
    def salt(self) -> str:
        if self._salt is None:
            self._salt = audit_salt(self.db)
        return self._salt

    def hash_user(self, user_id: str) -> str:
        return hash_user(self.salt, user_id)

    def ensure_head(self) -> None:
        """Create the chain head row on first use (never from ``verify``, which must only read)."""
        if self._head_ready:
            return
        try:
            with self.db.write() as conn:
                if conn.execute(select(audit_head.c.id)).first() is None:
                    last = conn.execute(
                        select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
                    ).first()
                    seq, digest = (last.seq, last.hash) if last else (0, GENESIS)
                    conn.execute(insert(audit_head).values(id=_HEAD_ID, seq=seq, hash=digest))
        except IntegrityError:  # created concurrently by another process or thread
            pass
        # Only now: a thread that saw the flag earlier could read a head row not yet committed.
        self._head_ready = True

    def append(
        self, entry: AuditEntry, *, time: datetime | None = None, conn: Connection | None = None
    ) -> AuditRecord:
        if conn is not None and not self._head_ready:
            # Creating the head takes a write transaction of its own: not inside the caller's.
            raise RuntimeError("call ensure_head() before appending inside an open transaction")
        self.ensure_head()
        with self.db.write_in(conn) as conn:
            head = conn.execute(_HEAD_FOR_UPDATE).one()
            values: dict[str, Any] = {
                "seq": head.seq + 1,
                "id": str(uuid.uuid4()),
                "time": iso_utc(time or utc_now()),
                "tenant": entry.tenant,
                "channel": entry.channel,
                "user_hash": entry.user_hash,
                "question": entry.question,
                "answer": entry.answer,
                "sources": canonical_json([asdict(s) for s in entry.sources]),
                "model": entry.model,
                "provider": entry.provider,
                "input_tokens": entry.input_tokens,
                "output_tokens": entry.output_tokens,
                "abstained": entry.abstained,
                "prev_hash": head.hash,
            }
            values["hash"] = record_hash(values)
            conn.execute(_INSERT_RECORD, values)
            conn.execute(_MOVE_HEAD, {"seq": values["seq"], "hash": values["hash"]})
        return _record(values)

    def get(self, record_id: str) -> AuditRecord | None:
        with self.db.read() as conn:
            row = conn.execute(select(audit_log).where(audit_log.c.id == record_id)).mappings().first()
        return None if row is None else _record(row)

    def exists(self, record_id: str, conn: Connection | None = None) -> bool:
        query = select(func.count()).select_from(audit_log).where(audit_log.c.id == record_id)
        if conn is not None:
            return bool(conn.execute(query).scalar_one())
        with self.db.read() as own:
            return bool(own.execute(query).scalar_one())

    def records(self) -> Iterator[AuditRecord]:
        with self.db.read() as conn:
            for row in conn.execute(select(audit_log).order_by(audit_log.c.seq)).mappings():
                yield _record(row)

    def verify(self) -> VerifyReport:
        links: list[_Link] = []
        suspects: dict[int, dict[str, Any]] = {}  # seq -> full row, for rows whose hash does not match
        with self.db.read() as conn:
            head = conn.execute(
                select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == _HEAD_ID)
            ).first()
            for row in conn.execute(select(audit_log).order_by(audit_log.c.seq)).mappings():
                intact = record_hash(row) == row["hash"]
                links.append(_Link(row["seq"], row["id"], row["hash"], row["prev_hash"], intact))
                if not intact:
                    suspects[row["seq"]] = dict(row)

        def matches_at(link: _Link, seq: int) -> bool:
            return record_hash(suspects[link.seq], seq) == link.hash

        head_pair = None if head is None else (head.seq, head.hash)
        return VerifyReport(records=len(links), problems=diagnose(links, head_pair, matches_at))


def _record(row: Mapping[Any, Any]) -> AuditRecord:
    sources = tuple(CitedSource(**s) for s in json.loads(row["sources"]))
    values = {c.name: row[c.name] for c in audit_log.columns}
    values.update(sources=sources, abstained=bool(row["abstained"]))
    return AuditRecord(**values)


def entry_from_answer(
    ref: ConversationRef, *, user_hash: str, question: str, answer: Answer, sources: Sequence[Source]
) -> AuditEntry:
    """An audit entry for an answer; cited sources carry the sha256 of the source text they came from."""
    digests = {s.n: s.sha256 for s in sources}
    usage = answer.usage
    return AuditEntry(
        tenant=ref.tenant,
        channel=ref.channel,
        user_hash=user_hash,
        question=question,
        answer=answer.text,
        sources=tuple(
            CitedSource(c.n, c.doc_id, c.article, c.url, digests.get(c.n, ""), c.verified)
            for c in answer.citations
        ),
        model=usage.model if usage else "",
        provider=usage.provider if usage else "none",
        input_tokens=usage.input_tokens if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
        abstained=answer.abstained,
    )


# --- verification ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Link:
    seq: int
    id: str
    hash: str
    prev_hash: str
    intact: bool  # the stored hash matches the stored fields


def _rank_at(k: int, link: _Link) -> tuple[bool, bool]:
    """Sort key among the records linking to the same one: the one stored at seq ``k``, intact, first."""
    return link.seq != k, not link.intact


def _chain_positions(links: Sequence[_Link]) -> dict[str, int]:
    """Follow prev_hash links from the genesis: the position each reachable record was appended at."""
    next_by_prev: dict[str, list[_Link]] = {}
    for link in links:
        next_by_prev.setdefault(link.prev_hash, []).append(link)
    positions: dict[str, int] = {}
    current, k = GENESIS, 1
    while candidates := next_by_prev.get(current):
        chosen = min(candidates, key=partial(_rank_at, k))
        if chosen.id in positions:
            break
        positions[chosen.id] = k
        current, k = chosen.hash, k + 1
    return positions


def _missing_runs(present: set[int], upto: int) -> Iterator[tuple[int, int]]:
    start = None
    for seq in range(1, upto + 2):
        if seq <= upto and seq not in present:
            start = seq if start is None else start
        elif start is not None:
            yield start, seq - 1
            start = None


def diagnose(
    links: Sequence[_Link], head: tuple[int, str] | None, matches_at: Callable[[_Link, int], bool]
) -> list[Problem]:
    """Name every edited, deleted, reordered or inserted record; ``links`` sorted by seq."""
    found: dict[tuple[int, str | None, str], Problem] = {}

    def report(seq: int, record_id: str | None, kind: ProblemKind, detail: str) -> None:
        found.setdefault((seq, record_id, kind), Problem(seq, record_id, kind, detail))

    head_seq = head[0] if head else max((link.seq for link in links), default=0)
    if head is None and links:
        report(head_seq, None, "deleted", "the chain head row (audit_head) is missing")
    positions = _chain_positions(links)
    reordered: set[str] = set()
    by_seq = {link.seq: link for link in links}

    for link in links:
        if link.seq > head_seq or link.seq < 1:
            report(link.seq, link.id, "inserted",
                   f"record {link.id} is outside the chain, which ends at seq {head_seq}")
        elif not link.intact:
            k = positions.get(link.id)
            if k is not None and k != link.seq and matches_at(link, k):
                reordered.add(link.id)
                report(link.seq, link.id, "reordered",
                       f"record {link.id} was appended as seq {k} but now sits at seq {link.seq}")
            else:
                report(link.seq, link.id, "edited",
                       f"record {link.id}: the stored fields no longer match its hash")

    for first, last in _missing_runs(set(by_seq), head_seq):
        span = f"seq {first}" if first == last else f"seq {first}-{last} ({last - first + 1} records)"
        report(first, None, "deleted", f"{span} missing: the chain jumps from seq {first - 1} to {last + 1}")

    for link in links:
        if link.seq > head_seq or link.seq < 1 or link.id in reordered:
            continue
        if link.seq == 1:
            if link.prev_hash != GENESIS:
                report(1, link.id, "edited",
                       f"record {link.id} does not start the chain (prev_hash is not zero)")
            continue
        prev = by_seq.get(link.seq - 1)
        if prev is None or prev.id in reordered or link.prev_hash == prev.hash:
            continue  # explained by a deletion or a reordering, or intact
        if prev.intact and link.intact:
            report(prev.seq, prev.id, "edited",
                   f"record {prev.id} was rewritten with a recomputed hash: "
                   f"seq {link.seq} links to a different one")
        elif link.intact:
            continue  # prev is already reported as edited
        else:
            report(link.seq, link.id, "edited",
                   f"record {link.id}: prev_hash does not link to seq {prev.seq}")

    tail = by_seq.get(head_seq)
    if head is not None and tail is not None and tail.intact and tail.hash != head[1]:
        report(tail.seq, tail.id, "edited",
               f"record {tail.id} was rewritten with a recomputed hash: the chain head holds a different one")
    return sorted(found.values(), key=lambda p: (p.seq, p.kind))
