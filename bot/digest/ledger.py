"""Digest state on the shared state database: seen items, per-source HTTP validators, the ledger.

Tables (``bot.state.tables``, created with the state database):

* ``digest_sources``  — per source: ETag / Last-Modified, last poll, last error.
* ``digest_items``    — every item ever seen per source. ``status``: ``baseline`` (already
  listed when kairan first polled the source; never announced), ``new`` (document not
  processed yet), ``ready`` (summarised, announceable).
* ``digest_ledger``   — one row per (subscription, source, item), unique. ``intent`` is
  written *before* ``adapter.send`` and becomes ``posted`` after it; rows left in
  ``intent`` by a crash are reconciled on start (see ``bot.digest.runner``).
* ``digest_subscriptions`` — when a subscription was first seen (items seen before are
  not announced to it) and its last run.

A channel gets each document once, whichever feed listed it: ``pending`` leaves out items
whose document (``compose.document_key`` of the URL) is in the ledger of any subscription
posting to the same channel, and ``record_intent`` checks that again in its transaction,
under a lock per channel (PostgreSQL: a transaction advisory lock; SQLite: the write lock
that ``BEGIN IMMEDIATE`` holds), so two replicas cannot both claim one document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.selectable import Join

from bot.digest.compose import Candidate, document_key
from bot.digest.feeds import FeedItem
from bot.state.db import Database, HeldLock, insert_new, iso_utc, lock_key
from bot.state.tables import digest_items, digest_ledger, digest_sources, digest_subscriptions

INTENT = "intent"
POSTED = "posted"
BASELINE = "baseline"
NEW = "new"
READY = "ready"

def _ledger_items() -> Join:
    """Ledger rows joined with the items they record."""
    return digest_ledger.join(
        digest_items,
        and_(
            digest_ledger.c.source_id == digest_items.c.source_id,
            digest_ledger.c.item_id == digest_items.c.item_id,
        ),
    )


class AlreadyRecorded(RuntimeError):
    """A ledger row for (subscription, item) exists already: the item was sent or is being sent."""


@dataclass(frozen=True)
class SourceState:
    source_id: str
    etag: str | None
    last_modified: str | None
    cursor: str | None
    polled_at: str | None
    ok_at: str | None
    error: str | None


@dataclass(frozen=True)
class StoredItem:
    source_id: str
    item: FeedItem
    status: str
    seen_at: str


@dataclass(frozen=True)
class IntentRun:
    """Ledger rows of one interrupted send: what was about to be posted, in digest order."""

    subscription: str
    run_id: str
    marker: str
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True)
class RunRecord:
    subscription: str
    created_at: str
    last_run_at: str | None
    last_status: str | None
    last_posted: int | None
    last_error: str | None


class DigestLedger:
    """Short synchronous transactions on the state DB (async callers use ``asyncio.to_thread``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------ sources

    def source_state(self, source_id: str) -> SourceState | None:
        with self.db.read() as conn:
            row = conn.execute(select(digest_sources).where(digest_sources.c.source_id == source_id)).first()
        return SourceState(**row._mapping) if row else None

    def save_source_state(
        self,
        source_id: str,
        *,
        now: datetime,
        ok: bool,
        error: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        cursor: str | None = None,
    ) -> None:
        """Record a poll. Validators and cursor are only replaced after a successful poll."""
        stamp = iso_utc(now)
        values: dict[str, object] = {"polled_at": stamp, "error": error}
        if ok:
            values |= {"ok_at": stamp, "etag": etag, "last_modified": last_modified, "error": None}
            if cursor is not None:
                values["cursor"] = cursor
        change = update(digest_sources).where(digest_sources.c.source_id == source_id).values(**values)
        with self.db.write() as conn:
            if conn.execute(change).rowcount:
                return
            if not insert_new(conn, digest_sources, source_id=source_id, **values):  # inserted meanwhile
                conn.execute(change)

    # ------------------------------------------------------------ items

    def record_items(
        self, source_id: str, items: Sequence[FeedItem], *, baseline: bool, now: datetime
    ) -> list[FeedItem]:
        """Store items not seen before; return those (status ``baseline`` or ``new``).

        An item recorded concurrently by another replica counts as seen (it is that one's to return).
        """
        stamp = iso_utc(now)
        fresh: list[FeedItem] = []
        with self.db.write() as conn:
            known = set(
                conn.execute(
                    select(digest_items.c.item_id).where(
                        and_(
                            digest_items.c.source_id == source_id,
                            digest_items.c.item_id.in_([i.id for i in items]),
                        )
                    )
                ).scalars()
            )
            for item in items:
                if item.id in known:
                    continue
                known.add(item.id)
                added = insert_new(
                    conn,
                    digest_items,
                    **dict(
                        source_id=source_id,
                        item_id=item.id,
                        title=item.title,
                        url=item.url,
                        published=item.published,
                        category=item.category,
                        feed_summary=item.summary,
                        summary="",
                        doc_id="",
                        status=BASELINE if baseline else NEW,
                        seen_at=stamp,
                    ),
                )
                if added:
                    fresh.append(item)
        return fresh

    def unprocessed(self, source_id: str) -> list[StoredItem]:
        """Items whose document is not processed yet (new now, or left by an interrupted poll)."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(digest_items)
                .where(and_(digest_items.c.source_id == source_id, digest_items.c.status == NEW))
                .order_by(digest_items.c.seen_at, digest_items.c.item_id)
            ).all()
        return [self._stored(r) for r in rows]

    def mark_ready(
        self, source_id: str, item_id: str, *, summary: str, doc_id: str = "", error: str | None = None
    ) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(digest_items)
                .where(and_(digest_items.c.source_id == source_id, digest_items.c.item_id == item_id))
                .values(status=READY, summary=summary, doc_id=doc_id, error=error)
            )

    def item_count(self, source_id: str, status: str | None = None) -> int:
        query = select(digest_items.c.item_id).where(digest_items.c.source_id == source_id)
        if status is not None:
            query = query.where(digest_items.c.status == status)
        with self.db.read() as conn:
            return len(conn.execute(query).all())

    @staticmethod
    def _stored(row: object) -> StoredItem:
        m = row._mapping  # type: ignore[attr-defined]
        item = FeedItem(
            id=m["item_id"],
            title=m["title"],
            url=m["url"],
            published=m["published"],
            category=m["category"],
            summary=m["feed_summary"],
        )
        return StoredItem(source_id=m["source_id"], item=item, status=m["status"], seen_at=m["seen_at"])

    # ------------------------------------------------------------ subscriptions

    def ensure_subscription(self, subscription: str, *, now: datetime) -> str:
        """The time the subscription was first seen (recorded now if it is new)."""
        with self.db.write() as conn:
            first_seen = {"subscription": subscription, "created_at": iso_utc(now)}
            insert_new(conn, digest_subscriptions, **first_seen)
            created = conn.execute(
                select(digest_subscriptions.c.created_at).where(
                    digest_subscriptions.c.subscription == subscription
                )
            ).scalar_one()
        return str(created)

    def try_lock_source(self, source_id: str) -> HeldLock | None:
        """Exclude other replicas from polling (and ingesting the documents of) this source."""
        return self.db.try_lock(f"digest-source:{source_id}")

    def record_run(
        self, subscription: str, *, now: datetime, status: str, posted: int, error: str | None = None
    ) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(digest_subscriptions)
                .where(digest_subscriptions.c.subscription == subscription)
                .values(last_run_at=iso_utc(now), last_status=status, last_posted=posted, last_error=error)
            )

    def run_record(self, subscription: str) -> RunRecord | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(digest_subscriptions).where(digest_subscriptions.c.subscription == subscription)
            ).first()
        return RunRecord(**row._mapping) if row else None

    def pending(
        self,
        subscription: str,
        source_ids: Iterable[str],
        *,
        since: str,
        names: dict[str, str] | None = None,
        channel_subs: Sequence[str] = (),
    ) -> list[Candidate]:
        """Announceable items of these sources, seen at or after ``since``, not in this ledger, whose
        document the channel has not had (or been sent) through this or ``channel_subs``' digests."""
        names = names or {}
        ids = list(source_ids)
        sent = (
            select(digest_ledger.c.item_id)
            .where(
                and_(
                    digest_ledger.c.subscription == subscription,
                    digest_ledger.c.source_id == digest_items.c.source_id,
                    digest_ledger.c.item_id == digest_items.c.item_id,
                )
            )
            .exists()
        )
        query = (
            select(digest_items)
            .where(
                and_(
                    digest_items.c.source_id.in_(ids),
                    digest_items.c.status == READY,
                    digest_items.c.seen_at >= since,
                    ~sent,
                )
            )
            .order_by(digest_items.c.seen_at, digest_items.c.item_id)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            claimed = self._claimed(conn, [subscription, *channel_subs]) if rows else set()
        candidates = [self._candidate(r._mapping, names) for r in rows]
        return [c for c in candidates if document_key(c.url) not in claimed]

    @staticmethod
    def _claimed(conn: Connection, subscriptions: Sequence[str]) -> set[str]:
        """Documents in the ledger of these subscriptions (posted or being posted)."""
        join = _ledger_items()
        query = (
            select(digest_items.c.url)
            .select_from(join)
            .where(digest_ledger.c.subscription.in_(sorted(set(subscriptions))))
        )
        return {document_key(url) for url in conn.execute(query).scalars()}

    @staticmethod
    def _candidate(m: Mapping[Any, Any], names: dict[str, str]) -> Candidate:
        get = m.__getitem__
        return Candidate(
            source_id=get("source_id"),
            item_id=get("item_id"),
            title=get("title"),
            url=get("url"),
            summary=get("summary") or get("feed_summary"),
            published=get("published"),
            category=get("category"),
            source_name=names.get(get("source_id"), get("source_id")),
            seen_at=get("seen_at"),
        )

    # ------------------------------------------------------------ the ledger

    def record_intent(
        self,
        subscription: str,
        chosen: Sequence[Candidate],
        *,
        run_id: str,
        marker: str,
        now: datetime,
        channel: str = "",
        channel_subs: Sequence[str] = (),
    ) -> None:
        """Write ``intent`` rows for every item, all or none; raise ``AlreadyRecorded`` on a clash: an
        item in this ledger already, or a document another digest of the ``channel`` (one of
        ``channel_subs``) has claimed since the items were composed."""
        stamp = iso_utc(now)
        try:
            with self.db.write() as conn:
                if conn.dialect.name == "postgresql":  # SQLite: BEGIN IMMEDIATE holds the write lock
                    key = lock_key(f"digest-channel:{channel or subscription}")
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
                claimed = self._claimed(conn, [subscription, *channel_subs])
                taken = [c.title for c in chosen if document_key(c.url) in claimed]
                if taken:
                    raise AlreadyRecorded(
                        f"subscription {subscription!r}: {len(taken)} document(s) of run {run_id} went to "
                        f"the channel meanwhile (first: {taken[0]})"
                    )
                for position, c in enumerate(chosen):
                    conn.execute(
                        insert(digest_ledger).values(
                            subscription=subscription,
                            source_id=c.source_id,
                            item_id=c.item_id,
                            state=INTENT,
                            run_id=run_id,
                            marker=marker,
                            position=position,
                            updated_at=stamp,
                        )
                    )
        except IntegrityError as exc:
            raise AlreadyRecorded(
                f"subscription {subscription!r}: an item of run {run_id} is already in the ledger"
            ) from exc

    def mark_posted(self, subscription: str, run_id: str, *, now: datetime) -> int:
        with self.db.write() as conn:
            return conn.execute(
                update(digest_ledger)
                .where(
                    and_(
                        digest_ledger.c.subscription == subscription,
                        digest_ledger.c.run_id == run_id,
                        digest_ledger.c.state == INTENT,
                    )
                )
                .values(state=POSTED, updated_at=iso_utc(now))
            ).rowcount

    def release(self, subscription: str, run_id: str) -> int:
        """Forget an intent that was not posted: its items become pending again."""
        with self.db.write() as conn:
            return conn.execute(
                delete(digest_ledger).where(
                    and_(
                        digest_ledger.c.subscription == subscription,
                        digest_ledger.c.run_id == run_id,
                        digest_ledger.c.state == INTENT,
                    )
                )
            ).rowcount

    def intents(self, names: dict[str, str] | None = None) -> list[IntentRun]:
        """Sends interrupted between ``record_intent`` and ``mark_posted``/``release``."""
        names = names or {}
        join = _ledger_items()
        query = (
            select(digest_ledger.c.subscription, digest_ledger.c.run_id, digest_ledger.c.marker, digest_items)
            .select_from(join)
            .where(digest_ledger.c.state == INTENT)
            .order_by(digest_ledger.c.subscription, digest_ledger.c.run_id, digest_ledger.c.position)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        runs: dict[tuple[str, str], tuple[str, list[Candidate]]] = {}
        for row in rows:
            m = row._mapping
            key = (m["subscription"], m["run_id"])
            runs.setdefault(key, (m["marker"], []))[1].append(self._candidate(m, names))
        return [
            IntentRun(subscription=sub, run_id=run, marker=marker, candidates=tuple(cands))
            for (sub, run), (marker, cands) in runs.items()
        ]

    def ledger_rows(self, subscription: str) -> list[tuple[str, str, str]]:
        """(source_id, item_id, state) of a subscription, for status and tests."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(digest_ledger.c.source_id, digest_ledger.c.item_id, digest_ledger.c.state)
                .where(digest_ledger.c.subscription == subscription)
                .order_by(digest_ledger.c.source_id, digest_ledger.c.item_id)
            ).all()
        return [(r[0], r[1], r[2]) for r in rows]
