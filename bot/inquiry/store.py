"""The 照会 loop's state: offers, inquiries and the responders' messages taken, in the state database.

* An **offer** is a 照会 that may be sent from the chat: one per answer in a tenant whose inquiries go
  somewhere, keyed by the answer's audit id (the 「照会する」 button carries it). Offers are pruned after
  a while (``forget_offers_before``).
* An **inquiry** is created from an offer once (``open``: ``INSERT … ON CONFLICT DO NOTHING`` on the
  offer's key), so a double click, a retried event or two replicas never send it twice.
* What an inquiry still needs (posting it, telling the asker of each event, the responder's receipt,
  the knowledge base holding the current answer) is written as state and done by whoever holds the
  row's lease (``next_at``, taken compare-and-set like the outbox's): the replica that made the change
  does it at once, and a replica's sweep (``take_due``) finishes what a stopped bot left undone.
* A responder's message is taken once (``capture``: ``inquiry_replies`` is keyed by the message), so
  the same message arriving as a mention and as a channel message, or redelivered, counts once.

Text columns are stored redacted (``bot.redaction.redact_for_storage``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update

from bot.redaction import RedactionPolicy, redact_for_storage
from bot.state.db import Database, insert_new, iso_utc, utc_now
from bot.state.retry import retry_delay
from bot.state.tables import inquiries, inquiry_offers, inquiry_replies

SENDING, OPEN, ANSWERED, WITHDRAWN, FAILED = "sending", "open", "answered", "withdrawn", "failed"
STATES = (SENDING, OPEN, ANSWERED, WITHDRAWN, FAILED)
ANSWER, WITHDRAW = "answer", "withdraw"

_I = inquiries.c
# Something is still to do on a row: post it, tell the asker, the responder's receipt, the knowledge base.
_PENDING = or_(
    _I.state == SENDING,
    _I.event_seq > _I.told_seq,
    and_(_I.state == ANSWERED, _I.receipt_rev < _I.revision),
    _I.knowledge_want != _I.knowledge_rev,
)


@dataclass(frozen=True)
class Source:
    """A source the answer the 照会 was offered on cited (or considered)."""

    label: str
    url: str = ""


@dataclass(frozen=True)
class Offer:
    key: str
    tenant: str
    platform: str
    channel: str
    thread: str | None
    message: str | None
    user: str
    user_name: str
    question: str
    reply: str
    draft: str
    sources: tuple[Source, ...]
    abstained: bool
    created: datetime


@dataclass(frozen=True)
class Inquiry:
    id: int
    offer: str
    tenant: str
    asker_platform: str
    asker_channel: str
    asker_thread: str | None
    asker_message: str | None
    asker_user: str
    asker_name: str
    question: str
    reply: str
    text: str
    sources: tuple[Source, ...]
    abstained: bool
    dest_platform: str
    dest_channel: str
    dest_message: str | None
    dest_link: str | None
    state: str
    created: datetime
    sent_at: datetime | None
    answered_at: datetime | None
    updated: datetime
    revision: int
    answer: str | None
    answer_message: str | None
    answer_link: str | None
    responder: str | None
    responder_name: str | None
    answer_time: datetime | None
    event_seq: int
    told_seq: int
    receipt_rev: int
    knowledge_want: int
    knowledge_rev: int
    work: bool
    next_at: datetime
    attempts: int

    @property
    def number(self) -> str:
        """How staff name it: 照会#12."""
        return f"照会#{self.id}"

    def age(self, now: datetime | None = None) -> timedelta:
        """Since it was sent (or created, while it is being sent), until it was first answered."""
        start = self.sent_at or self.created
        end = self.answered_at or now or utc_now()
        return max(end - start, timedelta(0))

    @property
    def receipt_due(self) -> bool:
        return self.state == ANSWERED and self.receipt_rev < self.revision


class InquiryStore:
    def __init__(
        self,
        db: Database,
        *,
        lease: timedelta = timedelta(minutes=2),
        backoff: timedelta = timedelta(seconds=30),
        max_backoff: timedelta = timedelta(minutes=10),
        redaction: RedactionPolicy | None = None,
    ) -> None:
        self.db = db
        self.lease = lease
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.redaction = redaction  # None: every kind of personal data is masked before storing

    def _redacted(self, text: str) -> str:
        return redact_for_storage(text, self.redaction)

    # -- offers ----------------------------------------------------------------------------------
    def add_offer(self, offer: Offer) -> bool:
        """Record an offer (False when one with its key exists)."""
        with self.db.write() as conn:
            return insert_new(
                conn, inquiry_offers, key=offer.key, tenant=offer.tenant, platform=offer.platform,
                channel=offer.channel, thread=offer.thread, message=offer.message, user=offer.user,
                user_name=offer.user_name, question=self._redacted(offer.question),
                reply=self._redacted(offer.reply), draft=self._redacted(offer.draft),
                sources=_sources_json(offer.sources), abstained=offer.abstained,
                created=iso_utc(offer.created),
            )

    def offer(self, key: str) -> Offer | None:
        with self.db.read() as conn:
            row = conn.execute(select(inquiry_offers).where(inquiry_offers.c.key == key)).mappings().first()
        return None if row is None else _offer(row)

    def latest_offer(self, platform: str, channel: str, user: str, *, since: datetime) -> Offer | None:
        """The asker's newest offer in a conversation (LoGo: 「照会する」 refers to the last answer)."""
        c = inquiry_offers.c
        query = (
            select(inquiry_offers)
            .where(c.platform == platform, c.channel == channel, c.user == user, c.created >= iso_utc(since))
            .order_by(c.created.desc())
            .limit(1)
        )
        with self.db.read() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _offer(row)

    def forget_offers_before(self, moment: datetime) -> int:
        """Drop offers older than ``moment`` (what was sent is kept in ``inquiries``)."""
        with self.db.write() as conn:
            old = inquiry_offers.c.created < iso_utc(moment)
            return int(conn.execute(delete(inquiry_offers).where(old)).rowcount)

    # -- inquiries -------------------------------------------------------------------------------
    def open(
        self, offer: Offer, *, text: str, dest_platform: str, dest_channel: str, now: datetime | None = None
    ) -> tuple[Inquiry, bool]:
        """The inquiry of ``offer``: created (True, leased to the caller, to be posted) the first time,
        the existing one (False) after that."""
        moment = now or utc_now()
        stamp = iso_utc(moment)
        with self.db.write() as conn:
            created = insert_new(
                conn, inquiries, offer=offer.key, tenant=offer.tenant, asker_platform=offer.platform,
                asker_channel=offer.channel, asker_thread=offer.thread, asker_message=offer.message,
                asker_user=offer.user, asker_name=offer.user_name, question=self._redacted(offer.question),
                reply=self._redacted(offer.reply), text=self._redacted(text),
                sources=_sources_json(offer.sources), abstained=offer.abstained,
                dest_platform=dest_platform, dest_channel=dest_channel, state=SENDING, created=stamp,
                updated=stamp, revision=0, event_seq=0, told_seq=0, receipt_rev=0, knowledge_want=0,
                knowledge_rev=0, work=True, next_at=iso_utc(moment + self.lease), attempts=1,
            )
            row = conn.execute(select(inquiries).where(_I.offer == offer.key)).mappings().one()
        return _inquiry(row), created

    def get(self, inquiry_id: int) -> Inquiry | None:
        with self.db.read() as conn:
            row = conn.execute(select(inquiries).where(_I.id == inquiry_id)).mappings().first()
        return None if row is None else _inquiry(row)

    def by_thread(self, platform: str, channel: str, message: str) -> Inquiry | None:
        """The inquiry posted as ``message`` in ``channel`` (a reply's thread root)."""
        where = (_I.dest_platform == platform) & (_I.dest_channel == channel) & (_I.dest_message == message)
        with self.db.read() as conn:
            row = conn.execute(select(inquiries).where(where)).mappings().first()
        return None if row is None else _inquiry(row)

    def listing(
        self, *, tenant: str | None = None, states: Iterable[str] | None = None, limit: int = 100
    ) -> list[Inquiry]:
        """Inquiries newest first, optionally of one tenant and in some states."""
        query = select(inquiries).order_by(_I.id.desc()).limit(limit)
        if tenant is not None:
            query = query.where(_I.tenant == tenant)
        if states is not None:
            query = query.where(_I.state.in_(list(states)))
        with self.db.read() as conn:
            return [_inquiry(row) for row in conn.execute(query).mappings()]

    def answered_between(self, start: datetime, end: datetime, *, tenant: str | None = None) -> list[Inquiry]:
        """Inquiries first answered in [start, end) and still answered, oldest first."""
        query = select(inquiries).where(
            _I.state == ANSWERED, _I.answered_at >= iso_utc(start), _I.answered_at < iso_utc(end)
        ).order_by(_I.answered_at)
        if tenant is not None:
            query = query.where(_I.tenant == tenant)
        with self.db.read() as conn:
            return [_inquiry(row) for row in conn.execute(query).mappings()]

    def counts(self) -> dict[tuple[str, str], int]:
        """Inquiries per (tenant, state)."""
        query = select(_I.tenant, _I.state, func.count()).group_by(_I.tenant, _I.state)
        with self.db.read() as conn:
            return {(t, s): int(n) for t, s, n in conn.execute(query)}

    # -- the work, under a lease -----------------------------------------------------------------
    def take(self, inquiry_id: int, *, now: datetime | None = None) -> Inquiry | None:
        """Lease the row to the caller when it has work and nobody holds it (compare-and-set)."""
        moment = now or utc_now()
        with self.db.write() as conn:
            won = conn.execute(
                update(inquiries)
                .where(_I.id == inquiry_id, _I.work.is_(True), _I.next_at <= iso_utc(moment))
                .values(next_at=iso_utc(moment + self.lease), attempts=_I.attempts + 1)
            ).rowcount == 1
            if not won:
                return None
            row = conn.execute(select(inquiries).where(_I.id == inquiry_id)).mappings().one()
        return _inquiry(row)

    def take_due(self, *, now: datetime | None = None, limit: int = 20) -> list[Inquiry]:
        """Rows with work left whose lease has ended (a stopped bot's, or a retry that is due)."""
        moment = now or utc_now()
        due = _I.work.is_(True) & (_I.next_at <= iso_utc(moment))
        with self.db.read() as conn:
            ids = [r[0] for r in conn.execute(select(_I.id).where(due).order_by(_I.next_at).limit(limit))]
        return [taken for i in ids if (taken := self.take(i, now=moment)) is not None]

    def posted(
        self, inquiry: Inquiry, *, message: str, link: str | None, now: datetime | None = None
    ) -> None:
        """The 照会 is in the destination as ``message``: open, and the asker is to be told."""
        stamp = iso_utc(now or utc_now())
        self._set(inquiry.id, state=OPEN, dest_message=message, dest_link=link, sent_at=stamp,
                  updated=stamp, event_seq=_I.event_seq + 1, where=_I.state == SENDING)

    def failed(self, inquiry: Inquiry, *, now: datetime | None = None) -> None:
        """The destination refused the 照会: failed, and the asker is to be told."""
        stamp = iso_utc(now or utc_now())
        self._set(inquiry.id, state=FAILED, updated=stamp, event_seq=_I.event_seq + 1,
                  where=_I.state == SENDING)

    def told(self, inquiry: Inquiry, seq: int) -> None:
        self._set(inquiry.id, told_seq=seq)

    def receipted(self, inquiry: Inquiry, revision: int) -> None:
        self._set(inquiry.id, receipt_rev=revision)

    def stored(self, inquiry: Inquiry, revision: int) -> None:
        self._set(inquiry.id, knowledge_rev=revision)

    def release(self, inquiry: Inquiry, *, retry: bool = False, now: datetime | None = None) -> bool:
        """End the caller's lease: done (the work flag says whether something new came up meanwhile) or,
        with ``retry``, to be tried again after a backoff. True when work is left."""
        moment = now or utc_now()
        if retry:
            delay = retry_delay(inquiry.attempts, base=self.backoff, cap=self.max_backoff)
            values: dict[str, Any] = {"next_at": iso_utc(moment + delay)}
        else:
            values = {"next_at": iso_utc(moment), "attempts": 0}
        with self.db.write() as conn:
            conn.execute(update(inquiries).where(_I.id == inquiry.id).values(work=_PENDING, **values))
            return bool(conn.execute(select(_I.work).where(_I.id == inquiry.id)).scalar_one())

    # -- the responders' messages ----------------------------------------------------------------
    def capture(
        self, inquiry_id: int, *, platform: str, channel: str, message: str, kind: str,
        text: str = "", user: str = "", user_name: str = "", link: str | None = None,
        now: datetime | None = None,
    ) -> Inquiry | None:
        """Take a responder's message once: an answer (a new revision) or a withdrawal. None when the
        message was taken before, or it changes nothing (a withdrawal of an unanswered inquiry)."""
        stamp = iso_utc(now or utc_now())
        with self.db.write() as conn:
            if not insert_new(conn, inquiry_replies, platform=platform, channel=channel, message=message,
                              inquiry_id=inquiry_id, kind=kind, time=stamp):
                return None
            if kind == ANSWER:
                changed = self._answer(conn, inquiry_id, message=message, text=text, user=user,
                                       user_name=user_name, link=link, stamp=stamp)
            else:
                changed = self._withdraw(conn, inquiry_id, stamp=stamp)
            if not changed:
                return None
            row = conn.execute(select(inquiries).where(_I.id == inquiry_id)).mappings().one()
        return _inquiry(row)

    def correct(
        self, inquiry: Inquiry, *, text: str, now: datetime | None = None
    ) -> Inquiry | None:
        """The responder edited the current answer: a new revision supersedes it (None: nothing changed,
        or another replica recorded the same edit first)."""
        stamp = iso_utc(now or utc_now())
        stored = self._redacted(text)
        with self.db.write() as conn:
            won = conn.execute(
                update(inquiries)
                .where(_I.id == inquiry.id, _I.state == ANSWERED, _I.revision == inquiry.revision,
                       _I.answer != stored)
                .values(answer=stored, revision=_I.revision + 1, knowledge_want=_I.revision + 1,
                        answer_time=stamp, updated=stamp, event_seq=_I.event_seq + 1, work=True)
            ).rowcount == 1
            if not won:
                return None
            row = conn.execute(select(inquiries).where(_I.id == inquiry.id)).mappings().one()
        return _inquiry(row)

    def withdraw(self, inquiry: Inquiry, *, message: str, now: datetime | None = None) -> Inquiry | None:
        """The responder deleted the current answer's message: the answer is withdrawn (None: it was not
        the current answer, or the withdrawal is recorded already)."""
        stamp = iso_utc(now or utc_now())
        with self.db.write() as conn:
            if not self._withdraw(conn, inquiry.id, stamp=stamp, message=message):
                return None
            row = conn.execute(select(inquiries).where(_I.id == inquiry.id)).mappings().one()
        return _inquiry(row)

    def by_answer_message(self, platform: str, channel: str, message: str) -> Inquiry | None:
        """The inquiry whose current answer is ``message``."""
        where = (_I.dest_platform == platform) & (_I.dest_channel == channel) & (_I.answer_message == message)
        with self.db.read() as conn:
            row = conn.execute(select(inquiries).where(where)).mappings().first()
        return None if row is None else _inquiry(row)

    def _answer(
        self, conn: Connection, inquiry_id: int, *, message: str, text: str, user: str, user_name: str,
        link: str | None, stamp: str,
    ) -> bool:
        return conn.execute(
            update(inquiries)
            .where(_I.id == inquiry_id, _I.state.in_((OPEN, ANSWERED, WITHDRAWN)))
            .values(
                state=ANSWERED, answer=self._redacted(text), answer_message=message, answer_link=link,
                responder=user, responder_name=user_name, answer_time=stamp,
                answered_at=func.coalesce(_I.answered_at, stamp), revision=_I.revision + 1,
                knowledge_want=_I.revision + 1, event_seq=_I.event_seq + 1, work=True, updated=stamp,
            )
        ).rowcount == 1

    def _withdraw(self, conn: Connection, inquiry_id: int, *, stamp: str, message: str | None = None) -> bool:
        where = [_I.id == inquiry_id, _I.state == ANSWERED]
        if message is not None:
            where.append(_I.answer_message == message)
        return conn.execute(
            update(inquiries).where(*where).values(
                state=WITHDRAWN, knowledge_want=0, event_seq=_I.event_seq + 1, work=True, updated=stamp
            )
        ).rowcount == 1

    def _set(self, inquiry_id: int, *, where: Any = None, **values: Any) -> None:
        query = update(inquiries).where(_I.id == inquiry_id)
        if where is not None:
            query = query.where(where)
        with self.db.write() as conn:
            conn.execute(query.values(**values))


def _sources_json(sources: Sequence[Source]) -> str:
    return json.dumps([{"label": s.label, "url": s.url} for s in sources], ensure_ascii=False)


def _sources(text: str) -> tuple[Source, ...]:
    try:
        items = json.loads(text)
    except ValueError:
        return ()
    return tuple(Source(str(i.get("label", "")), str(i.get("url", ""))) for i in items if isinstance(i, dict))


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _offer(row: Any) -> Offer:
    return Offer(
        key=row["key"], tenant=row["tenant"], platform=row["platform"], channel=row["channel"],
        thread=row["thread"], message=row["message"], user=row["user"], user_name=row["user_name"],
        question=row["question"], reply=row["reply"], draft=row["draft"], sources=_sources(row["sources"]),
        abstained=bool(row["abstained"]), created=datetime.fromisoformat(row["created"]),
    )


def _inquiry(row: Any) -> Inquiry:
    values = dict(row)
    values["sources"] = _sources(row["sources"])
    values["abstained"] = bool(row["abstained"])
    values["work"] = bool(row["work"])
    for name in ("created", "updated", "next_at"):
        values[name] = datetime.fromisoformat(row[name])
    for name in ("sent_at", "answered_at", "answer_time"):
        values[name] = _time(row[name])
    return Inquiry(**values)
