"""A toy fourth platform: a channel that implements the protocol and nothing else gets claims,
resume, the outbox and the apology from the shared lifecycle, over a real (SQLite) state DB."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from bot import wording
from bot.flow.lifecycle import FlowSettings, Lifecycle, QuestionFlow
from bot.flow.question import Question
from bot.log_context import request_id_var
from bot.models import Answer, ConversationRef, IncomingMessage
from bot.ports import Answerer, Channel, Failure, Rendered, Reply, ReplyWork, Stream
from bot.state.db import Database
from bot.state.events import EventLedger
from bot.state.inflight import InFlight
from bot.state.outbox import Outbox
from manifest.scope import Scope
from tests.fakes.engines import FailingEngine, FixedAnswerEngine, HangingEngine

STALE = timedelta(seconds=0.3)
CITY = Scope("city", ("laws",))
ANSWER = Answer(text="地方自治法第二百三十八条の四による。", citations=(), abstained=False)


class Down(Exception):
    """The toy platform is unreachable."""


class Rejected(Exception):
    """The toy platform refused one message."""


@dataclass
class ToyChannel:
    """The whole platform: a list of posts, and switches for an outage and a refusal."""

    platform: str = "toy"
    label: str = "Toy"
    posts: list[tuple[str, str | None, str]] = field(default_factory=list)
    down: bool = False
    reject: int = 0  # the next this many posts are refused
    progress_shown: int = 0

    async def reply_to(self, question: Question, work: ReplyWork) -> None:
        await work(ToyReply(self, question))

    async def post(self, channel: str, thread: str | None, message: Rendered) -> None:
        if self.down:
            raise Down("connection refused")
        if self.reject:
            self.reject -= 1
            raise Rejected("message too long")
        self.posts.append((channel, thread, str(message)))

    def classify(self, error: BaseException) -> Failure:
        return Failure.OUTAGE if isinstance(error, Down) else (
            Failure.REFUSED if isinstance(error, Rejected) else Failure.BUG
        )

    def explain(self, error: BaseException) -> str:
        return f"Toy refused the post: {error}"

    def describe(self, key: str, channel: str) -> str:
        return f"message {key} in room {channel}"

    @property
    def texts(self) -> list[str]:
        return [text for _, _, text in self.posts]


@dataclass
class ToyReply:
    channel: ToyChannel
    question: Question

    def render(self, reply: Answer | str) -> list[Rendered]:
        return [reply if isinstance(reply, str) else reply.text]

    @asynccontextmanager
    async def progress(self) -> AsyncIterator[None]:
        self.channel.progress_shown += 1
        yield

    def stream(self) -> Stream | None:
        return None

    async def post(self, message: Rendered) -> None:
        ref = self.question.message.ref
        await self.channel.post(ref.channel, ref.thread, message)


def question(n: int, *, text: str = "行政財産の貸付けは？", scope: Scope | None = CITY) -> Question:
    ref = ConversationRef("toy", "city", "room-1", None, str(n))
    return Question(key=f"m{n}", message=IncomingMessage(ref=ref, user="u1", text=text), scope=scope)


def flow_for(
    channel: Channel, db: Database, answerer: Answerer, *, inflight: InFlight | None = None,
    outbox: Outbox | None = None, ready: Callable[[], bool] = lambda: True, **settings: Any,
) -> QuestionFlow:
    parts = Lifecycle(answerer=answerer, ledger=EventLedger(db), inflight=inflight, outbox=outbox,
                      settings=FlowSettings(**settings))
    return parts.flow(channel, ready=ready)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def test_the_toy_channel_is_a_channel() -> None:
    channel: Channel = ToyChannel()  # make test type-checks this file: the toy implements the protocol
    reply: Reply = ToyReply(ToyChannel(), question(1))
    assert channel.platform == "toy" and reply.stream() is None


async def test_claims_answer_each_question_once_across_redeliveries_and_replicas(db: Database) -> None:
    channel = ToyChannel()
    engine = FixedAnswerEngine(ANSWER)
    first, second = flow_for(channel, db, engine), flow_for(channel, db, engine)  # two replicas, one DB
    await first.handle(question(1))
    await first.handle(question(1))  # the platform's retry, to the same process
    await second.handle(question(1))  # and to another replica
    assert channel.texts == [ANSWER.text]
    assert channel.progress_shown == 1
    assert [q.ref.message for q in engine.questions] == ["1"]
    assert engine.collections == [["laws"]]


class IdRecordingEngine(FixedAnswerEngine):
    """Answers, noting the request id every log line written meanwhile carries."""

    def __init__(self) -> None:
        super().__init__(ANSWER)
        self.request_ids: list[str | None] = []

    async def answer(self, message: IncomingMessage, *, collections: Sequence[str] | None = None) -> Answer:
        self.request_ids.append(request_id_var.get())
        return await super().answer(message, collections=collections)


async def test_each_chat_question_is_answered_under_a_request_id_of_its_own(db: Database) -> None:
    engine = IdRecordingEngine()
    flow = flow_for(ToyChannel(), db, engine)
    await flow.handle(question(1))
    flow.receive(question(2))
    await until(lambda: len(engine.request_ids) == 2)
    first, second = engine.request_ids
    assert first and second and first != second
    assert request_id_var.get() is None  # set for the question only
    token = request_id_var.set("http-request-7")  # Teams: the HTTP request already has one
    try:
        await flow.handle(question(3))
    finally:
        request_id_var.reset(token)
    assert engine.request_ids[2] == "http-request-7"


async def test_notices_for_an_unconfigured_conversation_and_an_empty_question(db: Database) -> None:
    channel = ToyChannel()
    engine = FailingEngine(AssertionError("the engine must not be asked"))
    flow = flow_for(channel, db, engine)
    await flow.handle(question(1, scope=None))
    await flow.handle(question(2, text="  "))
    assert channel.texts == [wording.NOT_CONFIGURED, wording.EMPTY_QUESTION]
    assert engine.questions == []


async def test_a_failure_gets_the_apology_and_the_traceback_goes_to_the_log(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    channel = ToyChannel()
    with caplog.at_level(logging.ERROR):
        await flow_for(channel, db, FailingEngine(RuntimeError("SECRET-DETAIL"))).handle(question(1))
    assert channel.texts == [wording.APOLOGY]
    [record] = caplog.records
    assert record.getMessage() == "Toy: answering message m1 in room room-1 failed"
    assert record.exc_info is not None and "SECRET-DETAIL" not in "".join(channel.texts)


async def test_a_refused_answer_gets_the_apology_and_one_line(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    channel = ToyChannel(reject=1)
    with caplog.at_level(logging.WARNING):
        await flow_for(channel, db, FixedAnswerEngine(ANSWER)).handle(question(1))
    assert channel.texts == [wording.APOLOGY]
    [line] = [r.getMessage() for r in caplog.records]
    assert line == ("Toy refused the post: message too long for message m1 in room room-1; "
                    "the answer was not posted")


async def test_an_outage_queues_the_answer_and_it_is_posted_once_when_the_platform_is_back(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    channel = ToyChannel(down=True)
    outbox = Outbox(db, backoff=timedelta(seconds=0.05))
    flow = flow_for(channel, db, FixedAnswerEngine(ANSWER), outbox=outbox, redeliver_interval=0.05)
    await flow.start()
    try:
        with caplog.at_level(logging.INFO):
            await flow.handle(question(1))
            assert channel.texts == [] and outbox.pending("toy") == 1
            await asyncio.sleep(0.2)  # still down: kept
            channel.down = False
            await until(lambda: bool(channel.texts))
            await asyncio.sleep(0.2)  # later rounds post nothing again
    finally:
        await flow.stop()
    assert channel.posts == [("room-1", None, ANSWER.text)]
    assert outbox.pending("toy") == 0
    [queued] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert queued.endswith("; the answer is queued and will be posted when Toy takes it")
    assert any(r.getMessage().startswith("queued Toy answer for message m1 in room room-1 posted")
               for r in caplog.records)


async def test_an_outage_without_an_outbox_is_one_line_and_no_apology(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    channel = ToyChannel(down=True)
    with caplog.at_level(logging.WARNING):
        await flow_for(channel, db, FixedAnswerEngine(ANSWER)).handle(question(1))
        channel.down = False
    assert channel.texts == []
    assert [r.getMessage() for r in caplog.records] == [
        "Toy refused the post: connection refused for message m1 in room room-1; the answer was not posted"
    ]


async def stop_mid_answer(channel: ToyChannel, db: Database) -> None:
    """A replica claims question 1 and stops while the answer is being written (its task cancelled,
    as past the drain timeout; a kill -9 leaves the same rows behind)."""
    hanging = HangingEngine()
    replica = flow_for(channel, db, hanging, inflight=InFlight(db, stale_after=STALE), drain_timeout=0.05)
    replica.receive(question(1))
    await asyncio.wait_for(hanging.started.wait(), 10)
    await replica.stop()
    assert channel.texts == [] and InFlight(db).pending("toy") == 1


async def test_a_question_whose_bot_stopped_is_answered_once_by_a_replica(db: Database) -> None:
    channel = ToyChannel()
    await stop_mid_answer(channel, db)
    engine = IdRecordingEngine()
    replica = flow_for(channel, db, engine, inflight=InFlight(db, stale_after=STALE), resume_interval=0.1)
    await replica.start()
    try:
        await until(lambda: bool(channel.texts))
        await asyncio.sleep(4 * STALE.total_seconds())  # later rounds do not answer it again
    finally:
        await replica.stop()
    assert channel.texts == [ANSWER.text]
    assert engine.collections == [["laws"]]  # the scope was kept with the question
    assert engine.request_ids[0] is not None  # its log lines are tied together too
    assert InFlight(db).pending("toy") == 0


async def test_a_question_interrupted_too_often_gets_one_apology(db: Database) -> None:
    channel = ToyChannel()
    await stop_mid_answer(channel, db)
    inflight = InFlight(db, stale_after=STALE, max_attempts=0)
    replica = flow_for(channel, db, HangingEngine(), inflight=inflight, resume_interval=0.1)
    await replica.start()
    try:
        await until(lambda: bool(channel.texts))
        await asyncio.sleep(4 * STALE.total_seconds())
    finally:
        await replica.stop()
    assert channel.texts == [wording.INTERRUPTED]
    assert inflight.pending("toy") == 0


async def test_resume_waits_while_the_platform_is_disconnected(db: Database) -> None:
    channel = ToyChannel()
    await stop_mid_answer(channel, db)
    online = asyncio.Event()
    replica = flow_for(channel, db, FixedAnswerEngine(ANSWER), inflight=InFlight(db, stale_after=STALE),
                       resume_interval=0.1, ready=online.is_set)
    await replica.start()
    try:
        await asyncio.sleep(4 * STALE.total_seconds())
        assert channel.texts == []
        online.set()
        await until(lambda: bool(channel.texts))
    finally:
        await replica.stop()
    assert channel.texts == [ANSWER.text]


async def test_one_replys_messages_are_not_interleaved_with_anothers(db: Database) -> None:
    class TwoPartReply(ToyReply):
        def render(self, reply: Answer | str) -> list[Rendered]:
            text = reply if isinstance(reply, str) else reply.text
            return [f"{text} (1/2)", f"{text} (2/2)"]

        async def post(self, message: Rendered) -> None:
            await asyncio.sleep(0.01)  # another reply's post would slip in here without the lock
            await super().post(message)

    class TwoPartChannel(ToyChannel):
        async def reply_to(self, question: Question, work: Callable[[Reply], Awaitable[None]]) -> None:
            await work(TwoPartReply(self, question))

    channel = TwoPartChannel()
    flow = flow_for(channel, db, FixedAnswerEngine(ANSWER))
    await asyncio.gather(flow.handle(question(1)), flow.handle(question(2)))
    assert [t[-5:] for t in channel.texts] == ["(1/2)", "(2/2)", "(1/2)", "(2/2)"]
