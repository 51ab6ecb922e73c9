"""The 照会 loop, platform-neutral: offer, send, capture, tell, keep as knowledge.

1. **Offer.** Every answer in a tenant whose manifest entry has ``inquiries`` gets an offer
   (``offer``): the 照会 draft (the engine's, when it abstained; else one built from the answer's
   sources) kept under the answer's audit id, which the platform's 「照会する」 carries.
2. **Send.** The asker confirms it, or edits it first (``confirm``; LoGo: ``confirm_latest``). The
   edited text is redacted (in block mode, personal data refuses it). The inquiry is created once per
   offer and posted to the tenant's destination (``InquiryPort.publish``) by whoever holds its lease;
   the asker is told in their thread, with its number (照会#12) and a link.
3. **Capture.** A responder's reply in the inquiry's thread (LoGo: a message naming 照会#12) is taken
   once as its answer (``reply``); an edit of that message supersedes it (``edited``), deleting it or
   replying 「取り下げ」 withdraws it (``deleted``). The asker is told each time, with the answer cited.
4. **Keep.** The current answer is written into the tenant's Q&A collection (``AnswerBook``), cited as
   「照会回答 <date> <answerer>」 with a link to the answer; a withdrawal removes it.

Every step after a change is state in ``bot.inquiry.store`` worked on under a lease: the replica that
made the change does it at once; a replica's sweep (every ``sweep_interval`` seconds, while some
platform's flow runs) takes what a stopped bot left, or what failed during an outage, and finishes it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from bot import wording
from bot.answer_text import inquiry_draft
from bot.flow.periodic import Periodic
from bot.inquiry.knowledge import doc_id
from bot.inquiry.similar import Similar, with_similar
from bot.inquiry.store import (
    ANSWER,
    ANSWERED,
    SENDING,
    WITHDRAW,
    Inquiry,
    InquiryStore,
    Offer,
    Source,
)
from bot.inquiry.text import is_withdrawal, named_inquiry, notice, post_for, receipt
from bot.models import Answer
from bot.models import Source as AnswerSource
from bot.ports import Failure, InquiryPort, Rendered
from bot.redaction import RedactionPolicy, redact
from bot.state.db import utc_now
from manifest.schema import InquiryConfig, Manifest

if TYPE_CHECKING:
    from bot.flow.question import Question

log = logging.getLogger(__name__)

T = TypeVar("T")
PLATFORM_LABELS = {"slack": "Slack", "teams": "Teams", "logo": "LoGo"}


@dataclass(frozen=True)
class InquirySettings:
    sweep_interval: float = 30.0  # seconds between two looks for unfinished work (a stopped bot's, a retry)
    offer_days: int = 7  # an answer's 照会 may be sent this long; its offer is forgotten after
    drain_timeout: float = 30.0  # stop() waits this long for work under way; the rest is left to a replica


@dataclass(frozen=True)
class ResponderMessage:
    """A message in an inquiry destination, as the platform's adapter saw it."""

    platform: str
    channel: str
    thread: str | None  # the thread root it replies in; None for a top-level message (and on LoGo)
    message: str  # its id
    user: str
    user_name: str
    text: str  # the bot's mention removed
    link: str | None = None
    bot: bool = False  # posted by a bot (never an answer)


class InquiryObserver(Protocol):
    """What metrics see of the loop (``kairan.metrics``)."""

    def opened(self, tenant: str) -> None: ...

    def answered(self, tenant: str, seconds: float) -> None: ...


class AnswerKeeper(Protocol):
    """Where answered inquiries are kept as knowledge (``bot.inquiry.knowledge.AnswerBook``)."""

    def put(self, inquiry: Inquiry, *, collection: str, answerer: str, tenant_name: str) -> str: ...

    def remove(self, inquiry: Inquiry, *, collection: str) -> None: ...


SimilarSearch = Callable[[str, Sequence[str]], Sequence[Similar]]  # (question, collections) → similar answers


class _Retry(Exception):
    """The step cannot be done now (a platform outage, a platform not connected here): later."""


class _Sweep(Periodic):
    failure = "the inquiry sweep failed"

    def __init__(self, desk: InquiryDesk, *, interval: float) -> None:
        super().__init__(interval=interval)
        self.desk = desk

    async def run_round(self) -> int:
        return await self.desk.sweep()


class InquiryDesk:
    def __init__(
        self,
        *,
        store: InquiryStore,
        manifest: Manifest,
        book: AnswerKeeper | None = None,
        redaction: RedactionPolicy | None = None,
        settings: InquirySettings | None = None,
        observer: InquiryObserver | None = None,
        similar: SimilarSearch | None = None,
    ) -> None:
        self.store = store
        self.similar = similar  # answers to similar inquiries, offered before a 照会 is sent
        self.manifest = manifest
        self.book = book  # None: answers are not kept as knowledge (tests of the chat side, `digest run`)
        self.redaction = redaction or RedactionPolicy()
        self.settings = settings or InquirySettings()
        self.observer = observer
        self.ports: dict[str, InquiryPort] = {}
        self._destinations = {
            (t.inquiries.destination.platform, t.inquiries.destination.channel)
            for t in manifest.tenants if t.inquiries is not None
        }
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pool: ThreadPoolExecutor | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._sweep: _Sweep | None = None
        self._users = 0

    # -- configuration ---------------------------------------------------------------------------
    def attach(self, port: InquiryPort) -> None:
        """A platform of this process (its adapter calls this when it is built)."""
        self.ports[port.channel.platform] = port

    def config(self, tenant: str) -> InquiryConfig | None:
        found = self.manifest.tenant(tenant)
        return None if found is None else found.inquiries

    def is_destination(self, platform: str, channel: str) -> bool:
        """Whether some tenant's inquiries go to ``channel`` (where replies may be answers)."""
        return (platform, channel) in self._destinations

    def _tenant_name(self, tenant: str) -> str:
        found = self.manifest.tenant(tenant)
        return found.name if found is not None else tenant

    # -- running ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Called by every platform flow that starts; the sweep runs while one is started."""
        self._users += 1
        if self._sweep is None:
            self._sweep = _Sweep(self, interval=self.settings.sweep_interval)
            self._sweep.start()

    async def stop(self) -> None:
        """Called by every platform flow that stops; the last one stops the sweep and the work."""
        self._users = max(0, self._users - 1)
        if self._users:
            return
        if self._sweep is not None:
            await self._sweep.stop()
            self._sweep = None
        pending = {t for t in self._tasks if not t.done()}
        if pending:
            _, still = await asyncio.wait(pending, timeout=self.settings.drain_timeout)
            for task in still:  # their leases end; a replica (or this bot, restarted) finishes them
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)
        for pool in (self._pool, self._writer):
            if pool is not None:
                pool.shutdown(wait=False)
        self._pool = self._writer = None

    async def drain(self) -> None:
        """Wait until no work is under way (tests, one-off commands)."""
        while pending := {t for t in self._tasks if not t.done()}:
            await asyncio.gather(*pending, return_exceptions=True)

    async def sweep(self) -> int:
        """Take the rows whose work is left (a stopped bot's, a retry now due) and work on each."""
        taken = await self._state(self.store.take_due)
        for inquiry in taken:
            self._spawn(self._work(inquiry))
        return len(taken)

    # -- 1. offer --------------------------------------------------------------------------------
    async def offer(self, question: Question, answer: Answer) -> Answer:
        """Record the 照会 the asker may send about ``answer``; the answer then carries its key."""
        scope = question.scope
        ref = question.message.ref
        if scope is None or self.config(scope.tenant) is None or ref.platform not in self.ports:
            return answer
        if answer.abstained and answer.inquiry_draft is None:  # refused (personal data blocked)
            return answer
        redacted = redact(question.message.text, self.redaction)
        if redacted.blocked:
            return answer
        answer = await self._with_similar(answer, redacted.text, scope.collections, scope.tenant)
        sources = tuple(Source(c.title, c.url) for c in sorted(answer.citations, key=lambda c: c.n))
        draft = answer.inquiry_draft or inquiry_draft(
            redacted.text, _cited(answer), tenant_name=self._tenant_name(scope.tenant)
        )
        key = answer.audit_id or uuid.uuid4().hex
        record = Offer(
            key=key, tenant=scope.tenant, platform=ref.platform, channel=ref.channel, thread=ref.thread,
            message=ref.message, user=question.message.user, user_name=asker_name(question),
            question=redacted.text, reply=answer.text, draft=draft, sources=sources,
            abstained=answer.abstained, created=utc_now(),
        )
        await self._state(self.store.add_offer, record)
        return replace(answer, inquiry_offer=key, inquiry_draft=draft)

    async def _with_similar(
        self, answer: Answer, question: str, searched: Sequence[str] | None, tenant: str
    ) -> Answer:
        """An abstention with the answers to similar inquiries listed (part 2: check them before sending)."""
        config = self.config(tenant)
        if not answer.abstained or self.similar is None or config is None:
            return answer
        if searched is not None and config.collection not in searched:
            return answer
        try:
            found = await asyncio.to_thread(self.similar, question, [config.collection])
        except Exception:
            log.warning("looking for answers to similar inquiries failed", exc_info=True)
            return answer
        return with_similar(answer, found)

    async def draft(self, key: str) -> Offer | None:
        """The offer behind a 「照会する」 (to show its draft for editing)."""
        return await self._state(self.store.offer, key)

    # -- 2. send ---------------------------------------------------------------------------------
    async def confirm(self, key: str, *, user: str, text: str | None = None) -> str | None:
        """The asker sends the offer ``key`` (as drafted, or as ``text``). None: it is on its way (the
        asker is told in their thread); else a notice for the one who clicked."""
        offer = await self._state(self.store.offer, key)
        if offer is None:
            return wording.INQUIRY_EXPIRED
        if offer.user != user:
            return wording.INQUIRY_NOT_ASKER
        return await self._send(offer, text)

    async def confirm_latest(self, platform: str, channel: str, user: str, text: str | None) -> str | None:
        """「照会する」 on a platform without buttons: the asker's newest offer in the conversation."""
        since = utc_now() - timedelta(days=self.settings.offer_days)
        offer = await self._state(partial(self.store.latest_offer, platform, channel, user, since=since))
        if offer is None:
            return wording.INQUIRY_NOTHING_TO_SEND
        return await self._send(offer, text)

    async def _send(self, offer: Offer, text: str | None) -> str | None:
        config = self.config(offer.tenant)
        if config is None or utc_now() - offer.created > timedelta(days=self.settings.offer_days):
            return wording.INQUIRY_EXPIRED
        body = (text or "").strip() or offer.draft
        redacted = redact(body, self.redaction)
        if redacted.blocked:
            return wording.INQUIRY_PERSONAL_DATA
        destination = config.destination
        inquiry, created = await self._state(
            partial(self.store.open, offer, text=redacted.text if redacted.findings else body,
                    dest_platform=destination.platform, dest_channel=destination.channel)
        )
        if not created:
            return wording.INQUIRY_ALREADY_SENT.format(number=inquiry.number)
        log.info("%s from tenant %s: sending it to %s %s", inquiry.number, offer.tenant,
                 destination.platform, destination.channel)
        self._spawn(self._work(inquiry))
        return None

    # -- 3. capture ------------------------------------------------------------------------------
    async def reply(self, message: ResponderMessage) -> bool:
        """A message in a destination: True when it belongs to an inquiry (taken as its answer when a
        responder wrote it), False when it is none of the loop's business (answer it as a question)."""
        if message.bot or not self.is_destination(message.platform, message.channel):
            return False
        found = await self._inquiry_of(message)
        if found is None:
            return False
        inquiry, text = found
        config = self.config(inquiry.tenant)
        if config is None or not _is_responder(config, inquiry, message):
            log.info("%s: a reply by %s, who is not a responder, is not taken as its answer",
                     inquiry.number, message.user)
            return True
        if not text:
            return True
        kind, stored = WITHDRAW, ""
        if not is_withdrawal(text):
            redacted = redact(text, self.redaction)
            if redacted.blocked:
                await self._say_in_thread(inquiry, wording.INQUIRY_ANSWER_BLOCKED)
                return True
            kind, stored = ANSWER, text
        port = self.ports.get(message.platform)
        link = message.link or (port.link(message.channel, message.thread, message.message) if port else None)
        captured = await self._state(partial(
            self.store.capture, inquiry.id, platform=message.platform, channel=message.channel,
            message=message.message, kind=kind, text=stored, user=message.user, user_name=message.user_name,
            link=link,
        ))
        if captured is None:
            return True
        log.info("%s: %s by %s captured (revision %d)", captured.number,
                 "answer" if kind == ANSWER else "withdrawal", message.user, captured.revision)
        if kind == ANSWER and captured.revision == 1 and self.observer is not None:
            self.observer.answered(captured.tenant, captured.age().total_seconds())
        await self._start(captured.id)
        return True

    async def edited(self, platform: str, channel: str, message: str, text: str) -> bool:
        """A message in a destination was edited: a new revision when it is an inquiry's current answer."""
        if not self.is_destination(platform, channel):
            return False
        inquiry = await self._state(self.store.by_answer_message, platform, channel, message)
        if inquiry is None:
            return False
        if is_withdrawal(text):
            changed = await self._state(partial(self.store.withdraw, inquiry, message=message))
        else:
            redacted = redact(text, self.redaction)
            if redacted.blocked:
                await self._say_in_thread(inquiry, wording.INQUIRY_ANSWER_BLOCKED)
                return True
            changed = await self._state(partial(self.store.correct, inquiry, text=text))
        if changed is not None:
            log.info("%s: answer edited (revision %d, %s)", changed.number, changed.revision, changed.state)
            await self._start(changed.id)
        return True

    async def deleted(self, platform: str, channel: str, message: str) -> bool:
        """A message in a destination was deleted: an inquiry's current answer is withdrawn."""
        if not self.is_destination(platform, channel):
            return False
        inquiry = await self._state(self.store.by_answer_message, platform, channel, message)
        if inquiry is None:
            return False
        withdrawn = await self._state(partial(self.store.withdraw, inquiry, message=message))
        if withdrawn is not None:
            log.info("%s: answer withdrawn (its message was deleted)", withdrawn.number)
            await self._start(withdrawn.id)
        return True

    async def _inquiry_of(self, message: ResponderMessage) -> tuple[Inquiry, str] | None:
        port = self.ports.get(message.platform)
        if message.thread is not None and message.thread != message.message:
            inquiry = await self._state(
                self.store.by_thread, message.platform, message.channel, message.thread
            )
            return None if inquiry is None else (inquiry, message.text.strip())
        if port is not None and port.threaded:
            return None  # a top-level message in a threaded platform's destination: not a reply
        named = named_inquiry(message.text)
        if named is None:
            return None
        inquiry = await self._state(self.store.get, named[0])
        where = (message.platform, message.channel)
        if inquiry is None or (inquiry.dest_platform, inquiry.dest_channel) != where:
            return None
        return inquiry, named[1]

    # -- the work, under the row's lease ---------------------------------------------------------
    async def _start(self, inquiry_id: int) -> None:
        """Work on a row that just changed, unless someone holds it (they see the change when done)."""
        taken = await self._state(self.store.take, inquiry_id)
        if taken is not None:
            self._spawn(self._work(taken))

    async def _work(self, inquiry: Inquiry) -> None:
        """Do what the row needs while holding its lease; retry later what cannot be done now."""
        current: Inquiry | None = inquiry
        while current is not None:
            retry = False
            try:
                current = await self._steps(current)
            except _Retry as exc:
                log.warning("%s: %s; trying again later", current.number, exc)
                retry = True
            except Exception:
                log.exception("%s: working on it failed; trying again later", current.number)
                retry = True
            left = await self._state(partial(self.store.release, current, retry=retry))
            if retry or not left:
                return
            current = await self._state(self.store.take, current.id)

    async def _steps(self, inquiry: Inquiry) -> Inquiry:
        if inquiry.state == SENDING:
            inquiry = await self._post(inquiry)
        if inquiry.knowledge_want != inquiry.knowledge_rev:
            inquiry = await self._keep(inquiry)
        if inquiry.event_seq > inquiry.told_seq:
            inquiry = await self._tell(inquiry)
        if inquiry.receipt_due:
            inquiry = await self._receipt(inquiry)
        return inquiry

    async def _post(self, inquiry: Inquiry) -> Inquiry:
        port = self._port(inquiry.dest_platform)
        marker = f"kairan-inquiry-{inquiry.id}"
        published = None
        if inquiry.attempts > 1:  # an earlier attempt may have posted it before its bot stopped
            published = await self._platform(port, port.find_published(inquiry.dest_channel, marker))
        if published is None:
            config = self.config(inquiry.tenant)
            asker = self.ports.get(inquiry.asker_platform)
            post = post_for(
                inquiry, tenant=self._tenant_name(inquiry.tenant),
                destination=(config.destination.name if config else "") or "照会先",
                asker_where=PLATFORM_LABELS.get(inquiry.asker_platform, inquiry.asker_platform),
                asker_link=asker.link(inquiry.asker_channel, inquiry.asker_thread, inquiry.asker_message)
                if asker else None,
            )
            try:
                published = await self._platform(
                    port, port.publish(inquiry.dest_channel, port.render_inquiry(post), marker=marker)
                )
            except _Refused as exc:
                log.error("%s could not be posted to %s %s: %s", inquiry.number, inquiry.dest_platform,
                          inquiry.dest_channel, exc)
                await self._state(self.store.failed, inquiry)
                return await self._reload(inquiry)
        await self._state(partial(self.store.posted, inquiry, message=published.message, link=published.link))
        log.info("%s posted to %s %s as %s", inquiry.number, inquiry.dest_platform, inquiry.dest_channel,
                 published.message)
        if self.observer is not None:
            self.observer.opened(inquiry.tenant)
        return await self._reload(inquiry)

    async def _keep(self, inquiry: Inquiry) -> Inquiry:
        want = inquiry.knowledge_want
        config = self.config(inquiry.tenant)
        if self.book is not None and config is not None:
            if want > 0 and inquiry.state == ANSWERED:
                tenant_name = self._tenant_name(inquiry.tenant)
                await self._write(partial(self.book.put, inquiry, collection=config.collection,
                                          answerer=config.answerer, tenant_name=tenant_name))
                log.info("%s: answer (revision %d) kept in collection %s", inquiry.number, want,
                         config.collection)
            else:
                await self._write(partial(self.book.remove, inquiry, collection=config.collection))
                log.info("%s: answer taken out of collection %s", inquiry.number, config.collection)
        await self._state(self.store.stored, inquiry, want)
        return await self._reload(inquiry)

    async def _tell(self, inquiry: Inquiry) -> Inquiry:
        """Tell the asker, in their thread, of the inquiry's current state."""
        port = self._port(inquiry.asker_platform)
        config = self.config(inquiry.tenant)
        collection = config.collection if config else ""
        content = notice(
            inquiry, destination=(config.destination.name if config else "") or "照会先",
            answerer=config.answerer if config else "照会先", doc_id=doc_id(inquiry, collection),
        )
        messages = port.render(content, mention=(inquiry.asker_user, inquiry.asker_name))
        try:
            await self._post_all(port, inquiry.asker_channel, inquiry.asker_thread, messages)
        except _Refused as exc:
            log.error("%s: the asker could not be told (%s); given up", inquiry.number, exc)
        await self._state(self.store.told, inquiry, inquiry.event_seq)
        return await self._reload(inquiry)

    async def _receipt(self, inquiry: Inquiry) -> Inquiry:
        """Tell the responder, in the inquiry's thread, that the answer was taken."""
        try:
            await self._say_in_thread(inquiry, receipt(inquiry), strict=True)
        except _Refused as exc:
            log.error("%s: the receipt could not be posted (%s); given up", inquiry.number, exc)
        await self._state(self.store.receipted, inquiry, inquiry.revision)
        return await self._reload(inquiry)

    async def _say_in_thread(self, inquiry: Inquiry, text: str, *, strict: bool = False) -> None:
        """A notice in the inquiry's thread (LoGo: in its talk). Failures raise only when ``strict``."""
        try:
            port = self._port(inquiry.dest_platform)
            thread = inquiry.dest_message if port.threaded else None
            await self._post_all(port, inquiry.dest_channel, thread, port.render(text))
        except (_Retry, _Refused):
            if strict:
                raise
            log.warning("%s: a notice in its thread was not posted", inquiry.number)

    async def _post_all(self, port: InquiryPort, channel: str, thread: str | None,
                        messages: Sequence[Rendered]) -> None:
        for message in messages:
            await self._platform(port, port.channel.post(channel, thread, message))

    async def _platform(self, port: InquiryPort, call: Coroutine[Any, Any, T]) -> T:
        """A platform call: an outage is retried later, a refusal is the caller's to handle."""
        try:
            return await call
        except Exception as exc:
            kind = port.channel.classify(exc)
            if kind is Failure.BUG:
                raise
            reason = port.channel.explain(exc)
            raise (_Retry(reason) if kind is Failure.OUTAGE else _Refused(reason)) from exc

    def _port(self, platform: str) -> InquiryPort:
        port = self.ports.get(platform)
        if port is None:
            raise _Retry(f"{platform} is not connected from this bot")
        if not port.ready():
            raise _Retry(f"{PLATFORM_LABELS.get(platform, platform)} is not connected")
        return port

    async def _reload(self, inquiry: Inquiry) -> Inquiry:
        return await self._state(self.store.get, inquiry.id) or inquiry

    # -- helpers ---------------------------------------------------------------------------------
    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _state(self, func: Callable[..., T], *args: Any) -> T:
        """A short state-database call on the desk's own threads."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="inquiry-state")
        return await asyncio.get_running_loop().run_in_executor(self._pool, partial(func, *args))

    async def _write(self, func: Callable[[], T]) -> T:
        """A knowledge write, one at a time, off the state threads (an ingest takes a while)."""
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inquiry-knowledge")
        return await asyncio.get_running_loop().run_in_executor(self._writer, func)


class _Refused(Exception):
    """The platform refused the message (not an outage): retrying will not help."""


def _is_responder(config: InquiryConfig, inquiry: Inquiry, message: ResponderMessage) -> bool:
    if message.user in config.responders.users:
        return True
    asker = message.platform == inquiry.asker_platform and message.user == inquiry.asker_user
    return config.responders.channel_members and not asker


def _cited(answer: Answer) -> list[AnswerSource]:
    """The answer's citations as the draft lists them (関係規定)."""
    return [
        AnswerSource(n=c.n, doc_id=c.doc_id, article=c.article, title=c.title, label="", caption="",
                     url=c.url, text="")
        for c in sorted(answer.citations, key=lambda c: c.n)
    ]


def asker_name(question: Question) -> str:
    """The asker's display name when the platform gave one (LoGo's context, Teams' from.name)."""
    name = question.context.get("name")
    if isinstance(name, str) and name:
        return name
    sender = question.message.raw.get("from")
    if isinstance(sender, dict) and isinstance(sender.get("name"), str) and sender["name"]:
        return str(sender["name"])
    return question.message.user

