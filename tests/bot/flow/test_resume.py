"""The shared questions-in-flight helper over a real (SQLite) state DB, with recording handlers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import pytest

from bot.flow.resume import Resumer
from bot.state.db import Database, utc_now
from bot.state.inflight import InFlight, Interrupted

STALE = timedelta(seconds=0.3)


class Recorder:
    """The adapter side: records what it was asked to answer again or give up, runs spawned work."""

    def __init__(self) -> None:
        self.answered: list[str] = []
        self.given_up: list[str] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def answer(self, entry: Interrupted) -> None:
        self.answered.append(entry.event_id)

    async def give_up(self, entry: Interrupted) -> None:
        self.given_up.append(entry.event_id)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.create_task(work))


def resumer(inflight: InFlight, recorder: Recorder, **options: Any) -> Resumer:
    return Resumer(
        inflight, "chat", answer=recorder.answer, give_up=recorder.give_up, spawn=recorder.spawn,
        label="Chat", describe=lambda entry: f"message {entry.event_id}", **options,
    )


async def test_a_question_is_dropped_when_answered_or_failed_but_kept_when_cancelled(db: Database) -> None:
    inflight = InFlight(db, stale_after=STALE)
    helper = resumer(inflight, Recorder())
    for key in ("answered", "failed", "cancelled"):
        assert await helper.claim(key, {"q": key})
    assert not await helper.claim("answered", {"q": "again"})  # a redelivery is not answered twice

    async with helper.answering("answered"):
        pass
    with pytest.raises(RuntimeError):
        async with helper.answering("failed"):
            raise RuntimeError("the engine broke")

    async def hang() -> None:
        async with helper.answering("cancelled"):
            await asyncio.Future()

    task = asyncio.create_task(hang())
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert inflight.pending("chat") == 1
    [left] = inflight.take_interrupted("chat", now=utc_now() + STALE)
    assert (left.event_id, left.payload) == ("cancelled", {"q": "cancelled"})


async def test_a_slow_answer_is_touched_so_it_is_not_taken(db: Database) -> None:
    inflight = InFlight(db, stale_after=STALE)
    helper = resumer(inflight, Recorder())
    assert await helper.claim("slow", {})
    async with helper.answering("slow"):
        await asyncio.sleep(4 * STALE.total_seconds())
        assert inflight.take_interrupted("chat") == []


async def test_a_replica_never_takes_back_a_question_it_is_still_answering(db: Database) -> None:
    """A busy machine can touch late; the lapsed lease must not start a second answer in this replica."""
    inflight = InFlight(db, stale_after=STALE)
    recorder = Recorder()
    helper = resumer(inflight, recorder)
    for key in ("busy", "lost"):
        assert await helper.claim(key, {})
    async with helper.answering("busy"):
        lapsed = utc_now() - 2 * STALE
        inflight.touch("chat", "busy", now=lapsed)  # its last touch came too late
        inflight.touch("chat", "lost", now=lapsed)
        assert await helper.resume_interrupted() == 1
        await asyncio.gather(*recorder.tasks)
    assert recorder.answered == ["lost"]


async def test_a_round_answers_again_or_gives_up_with_one_line_each(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    inflight = InFlight(db, stale_after=STALE, max_attempts=1)
    recorder = Recorder()
    helper = resumer(inflight, recorder)
    assert await helper.claim("q1", {})
    await asyncio.sleep(STALE.total_seconds())
    with caplog.at_level(logging.INFO):
        assert await helper.resume_interrupted() == 1
        await asyncio.gather(*recorder.tasks)
        await asyncio.sleep(STALE.total_seconds())  # the answer was interrupted again
        assert await helper.resume_interrupted() == 1
        await asyncio.gather(*recorder.tasks)

    assert recorder.answered == ["q1"] and recorder.given_up == ["q1"]
    assert inflight.pending("chat") == 0  # given up: dropped (an answer drops it inside ``answering``)
    warning, error = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.levelno == logging.WARNING and "answering it again (attempt 1)" in warning.getMessage()
    assert error.levelno == logging.ERROR and "interrupted too often" in error.getMessage()


async def test_rounds_are_skipped_while_not_ready(db: Database) -> None:
    inflight = InFlight(db, stale_after=STALE)
    recorder = Recorder()
    ready = False
    helper = resumer(inflight, recorder, ready=lambda: ready, interval=0.05)
    assert await helper.claim("q1", {})
    helper.start()
    try:
        await asyncio.sleep(3 * STALE.total_seconds())
        assert recorder.answered == []
        ready = True
        await asyncio.sleep(0.15)  # within the lease of the first take (stale_after)
        assert recorder.answered == ["q1"]
    finally:
        await helper.stop()
