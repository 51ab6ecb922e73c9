"""A bot that stops while answering (kill -9, out of memory, a lost machine, a drain timeout).

Slack does not redeliver an event the bot acknowledged, so without more the question is lost: the
asker sees the progress mark and never an answer. The claim records the question as in flight in
the state database; a replica that finds it there, untouched past ``stale_after``, answers it once.
A question that was interrupted too often gets a short apology asking to ask again, once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

import pytest

from bot import wording
from bot.engine import AnswerEngine
from bot.state.db import Database
from bot.state.inflight import InFlight
from tests.adapters.slack.conftest import load_fixture
from tests.fakes.engines import HangingEngine
from tests.fakes.slack_api import FakeSlack
from tests.faults.conftest import assert_one_clear_line
from tests.faults.test_chat_api_faults import EVENT_ID, MENTION_TS, answers

STALE = timedelta(seconds=0.6)


async def die_while_answering(make_adapter: Any, serve: Any, slack: FakeSlack, db: Database) -> None:
    """Replica A claims the mention and stops while the answer is still being written.

    Its answer task is cancelled, as when the process exits past the drain timeout; a kill -9 leaves
    the same state behind (the claim and the question in flight, nothing in the thread).
    """
    hanging = HangingEngine()
    replica_a = make_adapter(engine=hanging, inflight=InFlight(db, stale_after=STALE))
    running = await serve(replica_a)
    status, _, _ = await running.event(load_fixture("payload_app_mention.json"))
    assert status == 200
    await asyncio.wait_for(hanging.started.wait(), 30)
    for task in replica_a.flow.in_progress:
        task.cancel()
    await asyncio.sleep(0.1)
    assert answers(slack) == [] and InFlight(db).pending("slack") == 1


async def wait_quiet(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # later resume rounds must not post it again


async def test_a_question_whose_bot_stopped_mid_answer_is_answered_once_by_a_replica(
    make_adapter: Any, serve: Any, slack: FakeSlack, db: Database, engine: AnswerEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await die_while_answering(make_adapter, serve, slack, db)
    with caplog.at_level(logging.INFO):
        inflight = InFlight(db, stale_after=STALE)
        await serve(make_adapter(engine=engine, inflight=inflight, resume_interval=0.2))
        await wait_quiet(lambda: answers(slack))

    [reply] = answers(slack)
    assert reply.params["thread_ts"] == MENTION_TS and "申し訳" not in reply.params["text"]
    assert inflight.pending("slack") == 0
    assert_one_clear_line(caplog, "was interrupted", EVENT_ID, "answering it again (attempt 1)")
    # The resumed answer shows progress like any other and clears it.
    assert [c.params["timestamp"] for c in slack.calls_to("reactions.add")][-1] == MENTION_TS


async def test_a_question_interrupted_too_often_gets_one_apology(
    make_adapter: Any, serve: Any, slack: FakeSlack, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await die_while_answering(make_adapter, serve, slack, db)
    with caplog.at_level(logging.INFO):
        # A question that brings every bot down: max_attempts 0 gives up at the first resumption.
        inflight = InFlight(db, stale_after=STALE, max_attempts=0)
        await serve(make_adapter(engine=HangingEngine(), inflight=inflight, resume_interval=0.2))
        await wait_quiet(lambda: answers(slack))

    [apology] = answers(slack)
    assert apology.params["text"] == wording.INTERRUPTED and apology.params["thread_ts"] == MENTION_TS
    assert inflight.pending("slack") == 0
    assert_one_clear_line(caplog, "interrupted too often", EVENT_ID, "given up", level=logging.ERROR)


async def test_a_slow_answer_is_kept_alive_and_not_taken_by_another_replica(
    make_adapter: Any, serve: Any, slack: FakeSlack, db: Database, engine: AnswerEngine
) -> None:
    hanging = HangingEngine()
    running = await serve(
        make_adapter(engine=hanging, inflight=InFlight(db, stale_after=STALE), drain_timeout=0.2)
    )
    await serve(make_adapter(engine=engine, inflight=InFlight(db, stale_after=STALE), resume_interval=0.2))
    status, _, _ = await running.event(load_fixture("payload_app_mention.json"))
    assert status == 200
    await asyncio.wait_for(hanging.started.wait(), 30)
    await asyncio.sleep(6 * STALE.total_seconds())  # far past stale_after: the first bot keeps it alive
    assert answers(slack) == [] and InFlight(db).pending("slack") == 1
