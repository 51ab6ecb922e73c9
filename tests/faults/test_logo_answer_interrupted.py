"""A LoGo Chat bot that stops while answering (kill -9, out of memory, a lost machine, a drain timeout).

The notification was acknowledged when it arrived, so LoGo sends nothing again: without more the
question is lost. The claim records the question (talk, message, asker, text, tenant, collections)
as in flight in the state database; a replica that finds it there, untouched past ``stale_after``,
answers it once in the talk with the asker's mention. A question interrupted too often gets one
apology. The resume loop waits while the replica is not connected to LoGo.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest

from adapters.logo.adapter import LogoAdapter
from bot.ports import Answerer
from bot.state.db import Database
from bot.state.inflight import InFlight
from bot.wording import INTERRUPTED
from manifest.schema import Manifest
from tests.adapters.logo.conftest import make_adapter
from tests.fakes.engines import HangingEngine
from tests.fakes.logo_server import BOT_ID, GROUP_TALK, YAMADA, LogoFakeServer
from tests.faults.conftest import assert_one_clear_line
from tests.faults.test_answer_interrupted import wait_quiet

STALE = timedelta(seconds=0.6)
BOT_MENTION = f"{{@:{BOT_ID},4}}@回覧板"
YAMADA_MENTION = f"{{@:{YAMADA},6}}@山田 太郎"
QUESTION = "行政手続法第五条の審査基準について教えて"

Replica = Callable[..., Any]


def replies(server: LogoFakeServer) -> list[str]:
    return [str(c.params[2]) for c in server.sent(GROUP_TALK)]


@pytest.fixture
async def replica(
    server: LogoFakeServer, db: Database, manifest: Manifest
) -> AsyncIterator[Replica]:
    """Starts a LoGo adapter on the shared fake server and state DB; every one is stopped at the end.
    Each replica signs in with its own device token (one token holds one session at a time)."""
    started: list[LogoAdapter] = []

    async def start(engine: Answerer, **options: Any) -> LogoAdapter:
        token = server.token if not started else server.new_token()
        adapter = make_adapter(server, engine=engine, db=db, manifest=manifest, token=token, **options)
        await adapter.start()
        started.append(adapter)
        return adapter

    yield start
    for adapter in started:
        await adapter.stop()


async def ask_and_hang(replica: Replica, server: LogoFakeServer, db: Database) -> LogoAdapter:
    """Replica A takes the mention and starts an answer that never finishes."""
    hanging = HangingEngine()
    replica_a = await replica(hanging, inflight=InFlight(db, stale_after=STALE))
    await server.push_message(talk_id=GROUP_TALK, user_id=YAMADA, text=f"{BOT_MENTION} {QUESTION}")
    await asyncio.wait_for(hanging.started.wait(), 30)
    return replica_a


async def stop_answering(adapter: LogoAdapter) -> None:
    """Cancel the answer tasks, as when the process exits past its drain timeout."""
    for task in adapter.flow.in_progress:
        task.cancel()
    await asyncio.sleep(0.1)


async def die_while_answering(replica: Replica, server: LogoFakeServer, db: Database) -> str:
    """Returns the id of the question left in flight."""
    await stop_answering(await ask_and_hang(replica, server, db))
    assert replies(server) == [] and InFlight(db).pending("logo") == 1
    return str(server.messages[-1]["message_id"])


async def test_a_logo_question_whose_bot_stopped_mid_answer_is_answered_once_by_a_replica(
    replica: Replica, server: LogoFakeServer, db: Database, engine: Answerer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    message_id = await die_while_answering(replica, server, db)
    with caplog.at_level(logging.INFO):
        inflight = InFlight(db, stale_after=STALE)
        await replica(engine, inflight=inflight, resume_interval=0.2)
        await wait_quiet(lambda: replies(server))

    [reply] = replies(server)
    assert reply.startswith(f"{YAMADA_MENTION}\n") and "行政手続法" in reply and "申し訳" not in reply
    assert inflight.pending("logo") == 0
    assert_one_clear_line(
        caplog, "LoGo question", f"message {message_id} in talk {GROUP_TALK}",
        "answering it again (attempt 1)",
    )


async def test_a_logo_question_interrupted_too_often_gets_one_apology_with_the_askers_mention(
    replica: Replica, server: LogoFakeServer, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    message_id = await die_while_answering(replica, server, db)
    with caplog.at_level(logging.INFO):
        # A question that brings every bot down: max_attempts 0 gives up at the first resumption.
        inflight = InFlight(db, stale_after=STALE, max_attempts=0)
        await replica(HangingEngine(), inflight=inflight, resume_interval=0.2)
        await wait_quiet(lambda: replies(server))

    assert replies(server) == [f"{YAMADA_MENTION}\n{INTERRUPTED}"]
    assert inflight.pending("logo") == 0
    assert_one_clear_line(
        caplog, "interrupted too often", f"message {message_id} in talk {GROUP_TALK}", "given up",
        level=logging.ERROR,
    )


async def test_a_slow_logo_answer_is_kept_alive_and_not_taken_by_another_replica(
    replica: Replica, server: LogoFakeServer, db: Database, engine: Answerer
) -> None:
    replica_a = await ask_and_hang(replica, server, db)
    await replica(engine, inflight=InFlight(db, stale_after=STALE), resume_interval=0.2)
    try:
        await asyncio.sleep(6 * STALE.total_seconds())  # far past stale_after: replica A keeps it alive
        assert replies(server) == [] and InFlight(db).pending("logo") == 1
    finally:
        await stop_answering(replica_a)  # it would never finish (stop() waits for answers)


async def test_a_disconnected_replica_does_not_take_interrupted_logo_questions(
    replica: Replica, server: LogoFakeServer, db: Database, engine: Answerer
) -> None:
    await die_while_answering(replica, server, db)
    inflight = InFlight(db, stale_after=STALE)
    replica_b = await replica(engine, inflight=inflight, resume_interval=0.2)
    await replica_b.client.stop()  # no session to post in: the question stays for a connected replica
    await asyncio.sleep(6 * STALE.total_seconds())
    assert replies(server) == []
    [untaken] = InFlight(db, stale_after=STALE).take_interrupted("logo")
    assert untaken.attempts == 1  # this is its first resumption: replica B never took it
