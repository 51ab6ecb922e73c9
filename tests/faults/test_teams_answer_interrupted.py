"""A Teams bot that stops while answering (kill -9, out of memory, a lost machine, a drain timeout).

The Bot Connector got its 202 long before the answer, so it sends nothing again: without more the
question is lost. The claim records the question (its activity and scope) as in flight in the state
database; a replica that finds it there, untouched past ``stale_after``, answers it once,
proactively into the same channel thread. A question interrupted too often gets one apology.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest

from adapters.teams.adapter import TeamsAdapter
from bot import wording
from bot.state.inflight import InFlight
from knowledge.search import Searcher
from tests.adapters.teams.conftest import CHANNEL, Teams, real_engine
from tests.fakes.engines import HangingEngine
from tests.faults.conftest import assert_one_clear_line
from tests.faults.test_answer_interrupted import wait_quiet
from tests.faults.test_chat_api_faults import TEAMS_THREAD

STALE = timedelta(seconds=0.6)
MESSAGE_ID = "1748824267482"  # payload_channel_mention.json: a new post, the root of its thread


def messages(teams: Teams) -> list[str]:
    """The text of every message activity the bot posted (typing indicators left out)."""
    return [str(p.activity.get("text")) for p in teams.connector.of_type("message")]


async def ask_and_hang(teams: Teams, **options: Any) -> tuple[TeamsAdapter, HangingEngine]:
    """Replica A takes the channel mention and starts an answer that never finishes."""
    hanging = HangingEngine()
    replica_a = await teams.start_adapter(hanging, inflight=InFlight(teams.db, stale_after=STALE), **options)
    status, _ = await teams.post(replica_a, teams.activity("channel_mention"))
    assert status == 202
    await asyncio.wait_for(hanging.started.wait(), 30)
    return replica_a, hanging


async def stop_answering(adapter: TeamsAdapter) -> None:
    """Cancel the answer tasks, as when the process exits past its drain timeout."""
    for task in adapter.flow.in_progress:
        task.cancel()
    await asyncio.sleep(0.1)


async def die_while_answering(teams: Teams) -> None:
    replica_a, _ = await ask_and_hang(teams)
    await stop_answering(replica_a)
    assert messages(teams) == [] and InFlight(teams.db).pending("teams") == 1


async def test_a_teams_question_whose_bot_stopped_mid_answer_is_answered_once_by_a_replica(
    teams: Teams, kb_searcher: Searcher, caplog: pytest.LogCaptureFixture
) -> None:
    await die_while_answering(teams)
    with caplog.at_level(logging.INFO):
        inflight = InFlight(teams.db, stale_after=STALE)
        await teams.start_adapter(real_engine(kb_searcher, teams.db), inflight=inflight, resume_interval=0.2)
        await wait_quiet(lambda: messages(teams))

    [reply] = teams.connector.of_type("message")
    assert reply.conversation_id == TEAMS_THREAD  # into the question's thread
    assert "地方自治法" in str(reply.activity["text"]) and "申し訳" not in str(reply.activity["text"])
    assert inflight.pending("teams") == 0
    assert_one_clear_line(caplog, "Teams question", MESSAGE_ID, CHANNEL, "answering it again (attempt 1)")


async def test_a_teams_question_interrupted_too_often_gets_one_apology(
    teams: Teams, caplog: pytest.LogCaptureFixture
) -> None:
    await die_while_answering(teams)
    with caplog.at_level(logging.INFO):
        # A question that brings every bot down: max_attempts 0 gives up at the first resumption.
        inflight = InFlight(teams.db, stale_after=STALE, max_attempts=0)
        await teams.start_adapter(HangingEngine(), inflight=inflight, resume_interval=0.2)
        await wait_quiet(lambda: messages(teams))

    [apology] = teams.connector.of_type("message")
    assert apology.activity["text"] == wording.INTERRUPTED and apology.conversation_id == TEAMS_THREAD
    assert inflight.pending("teams") == 0
    assert_one_clear_line(
        caplog, "interrupted too often", MESSAGE_ID, CHANNEL, "given up", level=logging.ERROR
    )


async def test_a_slow_teams_answer_is_kept_alive_and_not_taken_by_another_replica(
    teams: Teams, kb_searcher: Searcher
) -> None:
    replica_a, _ = await ask_and_hang(teams)
    inflight = InFlight(teams.db, stale_after=STALE)
    await teams.start_adapter(real_engine(kb_searcher, teams.db), inflight=inflight, resume_interval=0.2)
    try:
        await asyncio.sleep(6 * STALE.total_seconds())  # far past stale_after: replica A keeps it alive
        assert messages(teams) == [] and InFlight(teams.db).pending("teams") == 1
    finally:
        await stop_answering(replica_a)  # it would never finish (stop() waits for answers)
