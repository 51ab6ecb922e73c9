"""The question lifecycle every chat platform shares: claim, answer, post, queue, resume, apologise.

A platform turns an inbound event into a ``Question`` and hands it to its ``QuestionFlow``
(``receive`` or ``handle``); the flow does the rest through the platform's ``Channel``
(``bot.ports``):

1. **Claim** the event once, across redeliveries, restarts and replicas (``EventLedger``; with
   ``InFlight`` the question is recorded in the same transaction until it is done). A platform's
   retries of an event this process claimed are skipped without a database write.
2. **Answer** in the conversation the channel opens (``reply_to``): the not-configured notice when
   the manifest gives the conversation nothing to search, a hint for an empty question, else the
   answer, streamed when the channel offers a stream, with the channel's progress indicator shown
   meanwhile. One reply's messages are never interleaved with another's in the same conversation.
3. **Queue** what the platform did not take during an outage (``Outbox``); the redelivery loop posts
   it later, in order, through ``Channel.post``.
4. **Apologise** for anything else in one short Japanese message (``bot.wording``); the details go to
   the log (one line for a platform's error, the traceback for a bug), never into the chat.
5. **Resume**: a question whose bot died mid-answer is answered again by a replica (``Resumer``);
   one interrupted too often gets one apology asking to ask again.
6. **Offer a 照会**: with the 照会 loop (``Lifecycle.inquiries``), each answer carries the key of the
   照会 its asker may send from the chat; the loop's sweep runs while a platform's flow does.

State calls run on the flow's own two threads, apart from the default executor where the engine's
searches queue, so a claim (and with it the first visible feedback) never waits behind them.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from bot import wording
from bot.flow.periodic import always
from bot.flow.question import Question, QuestionPayloadError
from bot.flow.redelivery import Redelivery
from bot.flow.resume import Resumer
from bot.log_context import request_id
from bot.models import Answer
from bot.ports import Answerer, Channel, Failure, Rendered, Reply, Stream
from bot.state.db import Database
from bot.state.events import EventLedger
from bot.state.inflight import InFlight, Interrupted
from bot.state.outbox import Outbox, Queued

if TYPE_CHECKING:
    from bot.inquiry.desk import InquiryDesk

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class FlowSettings:
    drain_timeout: float = 60.0  # stop() waits this long for answers; the rest stay in flight for a replica
    redeliver_interval: float = 30.0  # seconds between two rounds of posting what the outbox holds
    resume_interval: float = 60.0  # seconds between two looks for questions whose bot died
    remembered_claims: int = 10_000  # event keys kept in memory: a platform's quick retries skip the DB


@dataclass(frozen=True)
class Lifecycle:
    """What every platform's questions share, built once (``kairan.wiring``) and given to each platform."""

    answerer: Answerer
    ledger: EventLedger
    inflight: InFlight | None = None  # None: a question whose bot died is lost
    outbox: Outbox | None = None  # None: an answer the platform did not take is lost
    settings: FlowSettings = field(default_factory=FlowSettings)
    inquiries: InquiryDesk | None = None  # the 照会 loop (bot.inquiry); None: no 照会 is sent from the chat

    @classmethod
    def on(
        cls, db: Database, answerer: Answerer, settings: FlowSettings | None = None,
        *, inquiries: InquiryDesk | None = None,
    ) -> Lifecycle:
        """Every part kept in one state database: the claims, the questions in flight, the outbox."""
        return cls(answerer=answerer, ledger=EventLedger(db), inflight=InFlight(db), outbox=Outbox(db),
                   settings=settings or FlowSettings(), inquiries=inquiries)

    def flow(self, channel: Channel, *, ready: Callable[[], bool] = always) -> QuestionFlow:
        """The questions of one platform; ``ready`` False (disconnected): resume and redelivery wait."""
        return QuestionFlow(channel, self, ready=ready)


class QuestionFlow:
    """One platform's questions; ``start()`` with the platform, ``stop()`` before it disconnects."""

    def __init__(self, channel: Channel, parts: Lifecycle, *, ready: Callable[[], bool] = always) -> None:
        self.channel = channel
        self.answerer = parts.answerer
        self.ledger = parts.ledger
        self.inflight = parts.inflight
        self.outbox = parts.outbox
        self.settings = parts.settings
        self.inquiries = parts.inquiries
        self._tasks: set[asyncio.Task[Any]] = set()
        self._claimed: OrderedDict[str, None] = OrderedDict()
        self._locks: weakref.WeakValueDictionary[tuple[str, str | None], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._pool: ThreadPoolExecutor | None = None
        self._resumer = None if self.inflight is None else Resumer(
            self.inflight, channel.platform, answer=self._answer_again, give_up=self._give_up,
            spawn=self._spawn, label=channel.label, describe=self._describe_interrupted,
            ready=ready, interval=self.settings.resume_interval, run=self.state,
        )
        self._redelivery = None if self.outbox is None else Redelivery(
            self.outbox, channel.platform, self._post_queued, classify=self._outage, label=channel.label,
            describe=self._describe_queued, reason=channel.explain, ready=ready,
            interval=self.settings.redeliver_interval, run=self.state,
        )

    # -- running -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the redelivery and resume loops (rounds wait while the channel is not connected)."""
        if self._redelivery is not None:
            self._redelivery.start()
        if self._resumer is not None:
            self._resumer.start()
        if self.inquiries is not None:
            await self.inquiries.start()

    async def stop(self) -> None:
        """Stop the loops and let the answers in flight finish for ``drain_timeout`` seconds.

        Answers still running then are cancelled: their questions stay in flight, and a replica (or
        this bot, restarted) answers them again.
        """
        if self._redelivery is not None:
            await self._redelivery.stop()
        if self._resumer is not None:
            await self._resumer.stop()
        current = asyncio.current_task()
        pending = {t for t in self._tasks if not t.done() and t is not current}
        if pending:
            _, still = await asyncio.wait(pending, timeout=self.settings.drain_timeout)
            if still:
                log.warning("%d %s answers still running at stop: left to be resumed", len(still),
                            self.channel.label)
                for task in still:
                    task.cancel()
                await asyncio.gather(*still, return_exceptions=True)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)
        if self.inquiries is not None:
            await self.inquiries.stop()

    async def drain(self) -> None:
        """Wait until no question is being handled (no time limit: for tests and one-off commands)."""
        while pending := self.in_progress:
            await asyncio.gather(*pending, return_exceptions=True)

    @property
    def in_progress(self) -> frozenset[asyncio.Task[Any]]:
        """The questions being handled now (for stopping, and for tests that stop a bot mid-answer)."""
        return frozenset(t for t in self._tasks if not t.done())

    def receive(self, question: Question) -> None:
        """Handle ``question`` in a task of its own (the platform's receive path returns at once)."""
        self._spawn(self.handle(question))

    async def handle(self, question: Question) -> None:
        """Claim the question and answer it (once), in the calling task, under a request id of its own
        unless the platform's HTTP request gave it one (``bot.log_context``)."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            with request_id():
                await self._handle(question)
        finally:
            if task is not None:
                self._tasks.discard(task)

    @asynccontextmanager
    async def conversation(self, channel: str, thread: str | None) -> AsyncIterator[None]:
        """Hold a conversation while posting: one reply's messages are never interleaved with another's."""
        lock = self._locks.get((channel, thread))
        if lock is None:
            lock = self._locks[(channel, thread)] = asyncio.Lock()
        async with lock:
            yield

    # -- one question --------------------------------------------------------------------------
    async def _handle(self, question: Question) -> None:
        try:
            first = await self._claim(question)
        except Exception:
            log.exception("%s question %s: claiming it failed", self.channel.label, self._describe(question))
            await self._respond(question, partial(self._say, question, wording.APOLOGY))
            return
        if not first:
            log.info("%s %s delivered again: already handled, skipped", self.channel.label,
                     self._describe(question))
            return
        await self._respond(question, partial(self._answer, question))

    async def _claim(self, question: Question) -> bool:
        """True the first time the question's event is seen (the database is asked once per process)."""
        if question.key in self._claimed:
            return False
        if self._resumer is not None:
            first = await self._resumer.claim(question.key, question.to_payload())
        else:
            first = await self.state(self.ledger.claim, self.channel.platform, question.key)
        self._claimed[question.key] = None
        while len(self._claimed) > self.settings.remembered_claims:
            self._claimed.popitem(last=False)
        return bool(first)

    async def _respond(self, question: Question, work: Callable[[Reply], Coroutine[Any, Any, None]]) -> None:
        """Run ``work`` in the question's conversation; the question is in flight until it ends."""
        async with self._answering(question.key):
            try:
                await self.channel.reply_to(question, work)
            except Exception as exc:  # the conversation could not be opened (Teams: no reference)
                self._log_failure(question, exc, "the answer was not posted")

    def _answering(self, key: str) -> AbstractAsyncContextManager[None]:
        """Keeps the question in flight while it is answered, drops it after (not when cancelled)."""
        return nullcontext() if self._resumer is None else self._resumer.answering(key)

    async def _answer(self, question: Question, reply: Reply) -> None:
        if question.scope is None:
            log.warning("%s %s: the manifest gives this conversation nothing to search",
                        self.channel.label, self._describe(question))
            await self._say(question, wording.NOT_CONFIGURED, reply)
            return
        if not question.message.text.strip():
            await self._say(question, wording.EMPTY_QUESTION, reply)
            return
        stream = reply.stream()
        async with reply.progress():
            try:
                answer = await self._offer(question, await self._collect(question, stream))
                await self._deliver(question, reply, reply.render(answer), stream)
            except Exception as exc:
                self._log_failure(question, exc, "the answer was not posted")
                if self.channel.classify(exc) is not Failure.OUTAGE:  # an outage takes no apology either
                    await self._apologise(question, reply, stream)

    async def _collect(self, question: Question, stream: Stream | None) -> Answer:
        """The verified answer; its text is streamed meanwhile when there is a stream."""
        collections = None if question.scope is None else question.scope.searchable
        if stream is None:  # the engine asks the LLM for one response: nobody would see it grow
            return await self.answerer.answer(question.message, collections=collections)
        final: Answer | None = None
        async for event in self.answerer.stream(question.message, collections=collections):
            if isinstance(event, Answer):
                final = event
            else:
                await stream.push(event)
        if final is None:
            raise RuntimeError("the answer engine finished without an answer")
        return final

    async def _offer(self, question: Question, answer: Answer) -> Answer:
        """The answer with the 照会 its asker may send from the chat, when the tenant's inquiries go
        somewhere (``bot.inquiry``); a failure to record it costs the button, never the answer."""
        if self.inquiries is None:
            return answer
        try:
            return await self.inquiries.offer(question, answer)
        except Exception:
            log.exception("%s %s: recording its 照会 offer failed", self.channel.label,
                          self._describe(question))
            return answer

    async def _deliver(
        self, question: Question, reply: Reply, messages: Sequence[Rendered], stream: Stream | None = None
    ) -> None:
        """Post ``messages`` in order (the first replaces the stream); an outage queues the rest."""
        ref = question.message.ref
        rest = list(messages)
        async with self.conversation(ref.channel, ref.thread):
            try:
                if stream is not None and rest and await stream.finish(rest[0]):
                    rest.pop(0)
                while rest:
                    await reply.post(rest[0])
                    rest.pop(0)
            except Exception as exc:
                if rest and await self._queue(question, rest, exc):
                    return
                raise

    async def _queue(self, question: Question, rest: list[Rendered], exc: Exception) -> bool:
        """Keep the messages the platform did not take during an outage; False: not an outage."""
        if self.outbox is None or self.channel.classify(exc) is not Failure.OUTAGE:
            return False
        ref = question.message.ref
        added = await self.state(self.outbox.add, self.channel.platform, question.key, ref.channel,
                                  ref.thread, rest)
        if added:
            log.warning("%s for %s; the answer is queued and will be posted when %s takes it",
                        self.channel.explain(exc), self._describe(question), self.channel.label)
        else:
            log.info("%s answer for %s is already queued", self.channel.label, self._describe(question))
        return True

    async def _apologise(self, question: Question, reply: Reply, stream: Stream | None) -> None:
        try:
            await self._deliver(question, reply, reply.render(wording.APOLOGY), stream)
        except Exception as exc:
            log.error("%s for %s; the apology was not posted either", self.channel.explain(exc),
                      self._describe(question))

    async def _say(self, question: Question, text: str, reply: Reply) -> None:
        """Post one of ``bot.wording``'s texts (a hint, a notice, an apology)."""
        try:
            await self._deliver(question, reply, reply.render(text))
        except Exception as exc:
            self._log_failure(question, exc, "the notice was not posted")

    def _log_failure(self, question: Question, exc: Exception, outcome: str) -> None:
        """One line for a platform's error; the traceback for anything else."""
        if self.channel.classify(exc) is Failure.BUG:
            log.error("%s: answering %s failed", self.channel.label, self._describe(question), exc_info=exc)
        else:
            log.error("%s for %s; %s", self.channel.explain(exc), self._describe(question), outcome)

    # -- resumed questions -----------------------------------------------------------------------
    async def _answer_again(self, entry: Interrupted) -> None:
        question = self._resumed(entry)
        if question is not None:
            with request_id():
                await self._respond(question, partial(self._answer, question))

    async def _give_up(self, entry: Interrupted) -> None:
        question = self._resumed(entry)
        if question is not None:
            with request_id():
                await self.channel.reply_to(question, partial(self._say, question, wording.INTERRUPTED))

    def _resumed(self, entry: Interrupted) -> Question | None:
        try:
            return Question.from_payload(entry.event_id, entry.payload)
        except QuestionPayloadError as exc:
            log.error("%s: %s; it is dropped", self.channel.label, exc)
            return None

    def _describe_interrupted(self, entry: Interrupted) -> str:
        ref = entry.payload.get("ref")
        channel = ref.get("channel") if isinstance(ref, dict) else None
        return self.channel.describe(entry.event_id, str(channel or "?"))

    # -- the outbox ------------------------------------------------------------------------------
    async def _post_queued(self, entry: Queued, message: Rendered) -> None:
        async with self.conversation(entry.channel, entry.thread):
            await self.channel.post(entry.channel, entry.thread, message)

    def _outage(self, exc: Exception) -> bool | None:
        """For the redelivery loop: an outage (True), a refusal (False), not the platform's (None)."""
        kind = self.channel.classify(exc)
        return None if kind is Failure.BUG else kind is Failure.OUTAGE

    def _describe_queued(self, entry: Queued) -> str:
        return f"for {self.channel.describe(entry.key, entry.channel)}"

    # -- helpers ---------------------------------------------------------------------------------
    def _describe(self, question: Question) -> str:
        return self.channel.describe(question.key, question.message.ref.channel)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def state(self, func: Callable[..., T], *args: Any) -> T:
        """Run a short state-database call on the flow's own threads (see the module docstring)."""
        if self._pool is None:
            name = f"{self.channel.platform}-state"
            self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix=name)
        return await asyncio.get_running_loop().run_in_executor(self._pool, partial(func, *args))
