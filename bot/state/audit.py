"""Tamper-evident audit log: append-only records on a keyed hash chain (``bot.state.chain``).

``hash = HMAC-SHA256(key, canonical JSON of every field, prev_hash included)`` with the key from
``KAIRAN_AUDIT_KEY`` (plain SHA-256 without one); ``prev_hash`` of the first record is 64 zeros.
After each append the new head is anchored outside the database (``bot.state.anchor``): the JSON
log, and the anchor file when one is configured. ``verify`` names every edited, deleted, reordered
or inserted record, and with the anchors also records cut off the end and deleted chains.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from bot.models import Answer, ConversationRef, Source
from bot.redaction import RedactionPolicy, redact_for_storage
from bot.state.anchor import Anchor, AnchorFile, AnchorPublisher
from bot.state.chain import (
    GENESIS,
    Chain,
    ChainKey,
    ChainSpec,
    Problem,
    VerifyReport,
    canonical_json,
    hash_row,
)
from bot.state.chain_verify import verify_chain
from bot.state.db import Database, iso_utc, utc_now
from bot.state.tables import audit_log

__all__ = [
    "GENESIS", "AuditEntry", "AuditLog", "AuditRecord", "CitedSource", "Problem", "VerifyReport",
    "audit_salt", "canonical_json", "entry_from_answer", "hash_user", "record_hash",
]

log = logging.getLogger(__name__)
SALT_ENV = "KAIRAN_AUDIT_SALT"
_SALT_META_KEY = "audit_salt"
AUDIT_HEAD_ID = 1


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
    """What the caller logs; the log masks personal data in the question and answer again."""

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


# --- hashing -----------------------------------------------------------------------------------


def hash_user(salt: str, user_id: str) -> str:
    return hashlib.sha256(f"{salt}\x00{user_id}".encode()).hexdigest()


def _hashed_fields(row: Mapping[str, Any], seq: int) -> dict[str, Any]:
    """Every stored field except ``hash`` (``seq`` given separately), in canonical form."""
    fields = {c.name: row[c.name] for c in audit_log.columns if c.name not in ("hash", "seq")}
    fields["seq"] = int(seq)
    fields["sources"] = json.loads(fields["sources"])
    fields["abstained"] = bool(fields["abstained"])
    fields["input_tokens"] = int(fields["input_tokens"])
    fields["output_tokens"] = int(fields["output_tokens"])
    return fields


AUDIT_CHAIN = ChainSpec(name="audit", table=audit_log, head_id=AUDIT_HEAD_ID, canonical=_hashed_fields)


def record_hash(row: Mapping[str, Any], seq: int | None = None, *, key: ChainKey | None = None) -> str:
    """The hash of a stored row's fields (with ``seq`` replaced if given): HMAC under ``key``, or
    plain SHA-256 (the unkeyed format) without one."""
    return hash_row(AUDIT_CHAIN, row, key or ChainKey(), seq)


# --- the log -----------------------------------------------------------------------------------


def audit_salt(db: Database, *, environ: Mapping[str, str] | None = None, env_name: str = SALT_ENV) -> str:
    """The per-install salt: the environment variable if set, else one generated and kept in the DB."""
    value = (os.environ if environ is None else environ).get(env_name, "").strip()
    return value or db.new_secret(_SALT_META_KEY)


class AuditLog:
    def __init__(
        self,
        db: Database,
        *,
        salt: str | None = None,
        key: ChainKey | None = None,
        anchor_file: AnchorFile | None = None,
        redaction: RedactionPolicy | None = None,
    ) -> None:
        """``key`` None: read from ``KAIRAN_AUDIT_KEY`` (unkeyed when unset); ``redaction`` None:
        every kind of personal data is masked in the question and answer before they are stored."""
        self.db = db
        self.redaction = redaction
        self._salt = salt
        self.key = ChainKey.from_env() if key is None else key
        self.anchor_file = anchor_file
        self._chain = Chain(db, AUDIT_CHAIN, self.key)
        self._anchors = AnchorPublisher(AUDIT_CHAIN.name, self.key, anchor_file)

    @classmethod
    def from_config(
        cls, db: Database, state: Any, environ: Mapping[str, str] | None = None
    ) -> AuditLog:
        """As ``manifest.schema.StateConfig`` describes it: salt, key and anchor file."""
        environ = os.environ if environ is None else environ
        key = ChainKey.from_env(environ, state.audit_key_env)
        if not key.keyed:
            log.warning("%s is not set: the audit chain is not keyed, so a rewritten chain cannot be "
                        "told from a genuine one", state.audit_key_env)
        anchor = AnchorFile(state.audit_anchor_file) if state.audit_anchor_file else None
        salt = audit_salt(db, environ=environ, env_name=state.audit_salt_env)
        return cls(db, salt=salt, key=key, anchor_file=anchor)

    @property
    def salt(self) -> str:
        if self._salt is None:
            self._salt = audit_salt(self.db)
        return self._salt

    def hash_user(self, user_id: str) -> str:
        return hash_user(self.salt, user_id)

    def ensure_head(self) -> None:
        """Create the chain head row on first use (never from ``verify``, which must only read)."""
        self._chain.ensure_head()

    def append(
        self, entry: AuditEntry, *, time: datetime | None = None, conn: Connection | None = None
    ) -> AuditRecord:
        """Append ``entry``; in the caller's transaction ``conn``, ``publish`` the record after commit."""
        if conn is not None and not self._chain.head_ready:
            # Creating the head takes a write transaction of its own: not inside the caller's.
            raise RuntimeError("call ensure_head() before appending inside an open transaction")
        self.ensure_head()
        values: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "time": iso_utc(time or utc_now()),
            "tenant": entry.tenant,
            "channel": entry.channel,
            "user_hash": entry.user_hash,
            "question": redact_for_storage(entry.question, self.redaction),
            "answer": redact_for_storage(entry.answer, self.redaction),
            "sources": canonical_json([asdict(s) for s in entry.sources]),
            "model": entry.model,
            "provider": entry.provider,
            "input_tokens": entry.input_tokens,
            "output_tokens": entry.output_tokens,
            "abstained": entry.abstained,
        }
        with self.db.write_in(conn) as own:
            record = _record(self._chain.append(values, own))
        if conn is None:
            self.publish(record)
        return record

    def publish(self, record: AuditRecord) -> None:
        """Anchor ``record`` as the chain's head outside the database (once it is committed)."""
        self._anchors.publish(record.seq, record.hash, record.time)

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
            for row in self._chain.rows(conn):
                yield _record(row)

    def verify(self, anchors: Iterable[Anchor] = ()) -> VerifyReport:
        """Check the chain, and against ``anchors`` (from the anchor file and the JSON logs)."""
        return verify_chain(self._chain, anchors)


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
