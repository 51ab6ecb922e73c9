"""A keyed, append-only hash chain over one table (the audit log, the feedback log).

Each record holds ``prev_hash`` (the hash of the record before it; 64 zeros for the first) and
``hash``: HMAC-SHA256 under the chain key (``KAIRAN_AUDIT_KEY``) of the canonical JSON of every
other field, or, written without a key, plain SHA-256 of the same JSON (the format of chains from
before keying, which therefore still verify). Someone who can write to the database but does not
hold the key cannot recompute a keyed hash: an edited record, a re-hashed last record or a whole
chain rewritten in the unkeyed format are all told apart from genuine ones.

One row of ``audit_head`` per chain holds its last seq and hash: appends lock it (``BEGIN
IMMEDIATE`` on SQLite, ``SELECT … FOR UPDATE`` on PostgreSQL) so concurrent appends never fork the
chain. What the database alone cannot show (records cut off the end with the head moved back, or
every record deleted) is caught by anchors kept outside it (``bot.state.anchor``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from sqlalchemy import Connection, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.state.db import Database
from bot.state.tables import audit_head

GENESIS = "0" * 64
KEY_ENV = "KAIRAN_AUDIT_KEY"
KEY_ID_META = "chain_key_id"  # kairan_meta: the id of the key the chains were first keyed with
MIN_KEY_CHARS = 16

ProblemKind = Literal["edited", "deleted", "reordered", "inserted", "unkeyed", "anchor"]


def canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class ChainKeyError(ValueError):
    """The chain key from the environment cannot be used (too short)."""


@dataclass(frozen=True)
class ChainKey:
    """The secret that keys the chain and signs its anchors; ``secret`` None: unkeyed."""

    secret: bytes | None = field(default=None, repr=False)

    @classmethod
    def of(cls, value: str | None, *, name: str = "the audit key") -> ChainKey:
        value = (value or "").strip()
        if value and len(value) < MIN_KEY_CHARS:
            raise ChainKeyError(f"{name} must be at least {MIN_KEY_CHARS} characters long")
        return cls(value.encode() if value else None)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_name: str = KEY_ENV) -> ChainKey:
        return cls.of((os.environ if environ is None else environ).get(env_name), name=env_name)

    @property
    def keyed(self) -> bool:
        return self.secret is not None

    def digest(self, canonical: str) -> str:
        """HMAC-SHA256 under the key, or SHA-256 without one."""
        if self.secret is None:
            return plain_digest(canonical)
        return hmac.new(self.secret, canonical.encode(), hashlib.sha256).hexdigest()

    def sign(self, message: str) -> str:
        return "" if self.secret is None else self.digest(message)

    @property
    def id(self) -> str:
        """A fingerprint that names the key without revealing it ("" without a key)."""
        if self.secret is None:
            return ""
        return hashlib.sha256(b"kairan chain key id\x00" + self.secret).hexdigest()[:16]


def plain_digest(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()


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
    unkeyed: int = 0  # records in the unkeyed format (from before the key was set)
    needs_key: bool = False  # keyed records, but no key was given to check them

    @property
    def ok(self) -> bool:
        return not self.problems and not self.needs_key


Canonical = Callable[[Mapping[str, Any], int], dict[str, Any]]  # stored row, seq → the fields hashed


@dataclass(frozen=True)
class ChainSpec:
    name: str  # "audit", "feedback": names the chain in anchors and messages
    table: Table  # with columns seq, id, prev_hash, hash
    head_id: int  # its row in audit_head
    canonical: Canonical


def hash_row(spec: ChainSpec, row: Mapping[str, Any], key: ChainKey, seq: int | None = None) -> str:
    """The hash a stored row should carry under ``key``; "" when its fields cannot be read."""
    try:
        fields = spec.canonical(row, int(row["seq"] if seq is None else seq))
    except (ValueError, TypeError):  # unreadable JSON or numbers: cannot match
        return ""
    return key.digest(canonical_json(fields))


class Chain:
    def __init__(self, db: Database, spec: ChainSpec, key: ChainKey) -> None:
        self.db = db
        self.spec = spec
        self.key = key
        self._head_ready = False
        head = audit_head.c
        self._head_for_update = (
            select(head.seq, head.hash).where(head.id == spec.head_id).with_for_update()
        )
        self._insert = insert(spec.table)
        self._move_head = update(audit_head).where(head.id == spec.head_id)

    @property
    def head_ready(self) -> bool:
        return self._head_ready

    def ensure_head(self) -> None:
        """Create the chain's head row on first use (never from ``verify``, which must only read)."""
        if self._head_ready:
            return
        if self.key.keyed:  # verify without the key then says the key is needed (not "edited")
            self.db.meta_setdefault(KEY_ID_META, self.key.id)
        table = self.spec.table
        try:
            with self.db.write() as conn:
                exists = select(audit_head.c.id).where(audit_head.c.id == self.spec.head_id)
                if conn.execute(exists).first() is None:
                    last = conn.execute(
                        select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1)
                    ).first()
                    seq, digest = (last.seq, last.hash) if last else (0, GENESIS)
                    conn.execute(insert(audit_head).values(id=self.spec.head_id, seq=seq, hash=digest))
        except IntegrityError:  # created concurrently by another process or thread
            pass
        # Only now: a thread that saw the flag earlier could read a head row not yet committed.
        self._head_ready = True

    def append(self, values: dict[str, Any], conn: Connection) -> dict[str, Any]:
        """Insert ``values`` (every column but seq, prev_hash and hash) at the end of the chain.

        ``conn`` holds a write transaction; ``ensure_head()`` must have run before it was opened.
        """
        head = conn.execute(self._head_for_update).one()
        row = {**values, "seq": head.seq + 1, "prev_hash": head.hash}
        row["hash"] = hash_row(self.spec, row, self.key)
        conn.execute(self._insert, row)
        conn.execute(self._move_head, {"seq": row["seq"], "hash": row["hash"]})
        return row

    def head(self, conn: Connection) -> tuple[int, str] | None:
        found = conn.execute(
            select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == self.spec.head_id)
        ).first()
        return None if found is None else (int(found.seq), str(found.hash))

    def rows(self, conn: Connection) -> Iterator[Mapping[Any, Any]]:
        table = self.spec.table
        yield from conn.execute(select(table).order_by(table.c.seq)).mappings()

    def links(self, conn: Connection) -> tuple[list[Link], Callable[[Link, int], bool]]:
        """Every record as a link (sorted by seq), and a test whether a broken one matches at a seq."""
        links: list[Link] = []
        suspects: dict[int, dict[str, Any]] = {}
        for row in self.rows(conn):
            scheme = self._scheme(row)
            links.append(Link(int(row["seq"]), str(row["id"]), row["hash"], row["prev_hash"], scheme))
            if scheme is None:
                suspects[int(row["seq"])] = dict(row)

        def matches_at(link: Link, seq: int) -> bool:
            row = suspects[link.seq]
            candidates = (hash_row(self.spec, row, self.key, seq), hash_row(self.spec, row, _PLAIN, seq))
            return link.hash in candidates

        return links, matches_at

    def _scheme(self, row: Mapping[str, Any]) -> Scheme | None:
        """"keyed" or "plain" when the stored hash matches the fields that way, else None."""
        if self.key.keyed and hash_row(self.spec, row, self.key) == row["hash"]:
            return "keyed"
        if hash_row(self.spec, row, _PLAIN) == row["hash"]:
            return "plain"
        return None


_PLAIN = ChainKey()
Scheme = Literal["keyed", "plain"]


@dataclass(frozen=True)
class Link:
    seq: int
    id: str
    hash: str
    prev_hash: str
    scheme: Scheme | None  # None: the stored hash matches the stored fields neither way

    @property
    def intact(self) -> bool:
        return self.scheme is not None


def key_problems(links: Sequence[Link], key: ChainKey) -> list[Problem]:
    """With a key set: unkeyed records after a keyed one were rewritten without the key; a chain
    in which no record carries the key was rewritten whole (or nothing was appended since the key
    was set)."""
    if not key.keyed or not links:
        return []
    keyed = [link.seq for link in links if link.scheme == "keyed"]
    if not keyed:
        plain = [link for link in links if link.scheme == "plain"]
        if not plain:
            return []
        return [Problem(plain[0].seq, plain[0].id, "unkeyed",
                        f"{len(plain)} record(s) from seq {plain[0].seq} carry no key although the key "
                        "is set: the chain was rewritten without the key, or nothing has been recorded "
                        "since the key was set")]
    first = min(keyed)
    return [Problem(link.seq, link.id, "edited",
                    f"record {link.id} carries no key although earlier records do: rewritten without the key")
            for link in links if link.scheme == "plain" and link.seq > first]


def _rank_at(k: int, link: Link) -> tuple[bool, bool]:
    """Sort key among the records linking to the same one: the one stored at seq ``k``, intact, first."""
    return link.seq != k, not link.intact


def _chain_positions(links: Sequence[Link]) -> dict[str, int]:
    """Follow prev_hash links from the genesis: the position each reachable record was appended at."""
    next_by_prev: dict[str, list[Link]] = {}
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
    links: Sequence[Link], head: tuple[int, str] | None, matches_at: Callable[[Link, int], bool]
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


def merge(*groups: Sequence[Problem]) -> list[Problem]:
    """One problem per (seq, kind), the first found kept, sorted by seq."""
    found: dict[tuple[int, str], Problem] = {}
    for group in groups:
        for problem in group:
            found.setdefault((problem.seq, problem.kind), problem)
    return sorted(found.values(), key=lambda p: (p.seq, p.kind))
