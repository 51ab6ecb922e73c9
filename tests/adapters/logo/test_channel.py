"""LoGo Chat as a channel of the question lifecycle: a reply the server does not take during an outage
is queued and posted once later; a rejected one is not queued (the apology goes out instead), and a
queued one the server later rejects is abandoned with one line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

import pytest

from adapters.logo.channel import is_outage
from adapters.logo.client import ConnectionLost, LogoError, ProtocolError, RpcError
from adapters.logo.render import reply_chunks
from bot.models import Answer
from bot.state.db import Database
from bot.state.outbox import Outbox
from bot.wording import APOLOGY
from manifest.schema import Manifest
from tests.adapters.logo.conftest import make_adapter, running
from tests.fakes.engines import FixedAnswerEngine
from tests.fakes.logo_server import PAIR_TALK, YAMADA, LogoFakeServer

ATTEMPTS = 5  # LogoClient.send_attempts: the client's own tries per message
YAMADA_MENTION = f"{{@:{YAMADA},6}}@山田 太郎"
BODY = "行政財産の目的外使用は、地方自治法第二百三十八条の四第七項により許可できます。"
EXPECTED = reply_chunks(BODY, limit=1024, mention=YAMADA_MENTION)


def engine() -> FixedAnswerEngine:
    return FixedAnswerEngine(Answer(text=BODY, citations=(), abstained=False))


def replies(server: LogoFakeServer) -> list[str]:
    return [c.params[2] for c in server.sent(PAIR_TALK)]


def lines(caplog: pytest.LogCaptureFixture, logger: str, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno == level]


async def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout)


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (ConnectionLost("create_message failed 5 times"), True),
        (RpcError("create_message", {"code": 503, "message": "busy"}), True),
        (RpcError("create_message", {"code": 429, "message": "slow down"}), True),
        (RpcError("create_message", {"code": 400, "message": "invalid content"}), False),
        (ProtocolError("bad frame"), False),
        (RuntimeError("not LoGo's"), None),
    ],
)
def test_an_outage_is_told_from_a_rejected_message(error: Exception, outage: bool | None) -> None:
    assert is_outage(error) is outage


async def test_logo_busy_past_the_retries_gets_the_answer_queued_and_posted_once_when_back(
    server: LogoFakeServer, db: Database, manifest: Manifest, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(db, backoff=timedelta(seconds=0.1))
    server.fail_next("create_message", code=503, message="busy", retry_after=0, times=2 * ATTEMPTS)
    adapter = make_adapter(server, engine=engine(), db=db, manifest=manifest, outbox=outbox,
                           redeliver_interval=0.1)
    with caplog.at_level(logging.INFO):
        async with running(adapter):
            await server.push_message(talk_id=PAIR_TALK, user_id=YAMADA, text="行政財産の貸付けは？")
            await until(lambda: len(server.attempts("create_message")) >= ATTEMPTS)
            await until(lambda: bool(replies(server)))
            await asyncio.sleep(0.5)  # later rounds must not post it again

    assert replies(server) == EXPECTED
    assert len(server.attempts("create_message")) == 2 * ATTEMPTS + len(EXPECTED)
    assert outbox.pending("logo") == 0
    [queued] = lines(caplog, "bot.flow.lifecycle", logging.WARNING)
    assert f"talk {PAIR_TALK}" in queued and "503" in queued and "queued" in queued
    [posted] = lines(caplog, "bot.flow.redelivery", logging.INFO)
    assert posted.startswith("queued LoGo answer for message") and "posted (attempt 2)" in posted
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_rejected_answer_is_not_queued_and_the_apology_goes_out(
    server: LogoFakeServer, db: Database, manifest: Manifest, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(db)
    server.fail_next("create_message", code=400, message="invalid content")
    adapter = make_adapter(server, engine=engine(), db=db, manifest=manifest, outbox=outbox)
    with caplog.at_level(logging.INFO):
        async with running(adapter):
            await server.push_message(talk_id=PAIR_TALK, user_id=YAMADA, text="行政財産の貸付けは？")
            await until(lambda: bool(server.attempts("create_message")))
            await until(lambda: not adapter.flow.in_progress)

    # Before the shared lifecycle LoGo stayed silent here; Slack and Teams post the apology instead.
    assert replies(server) == [f"{YAMADA_MENTION}\n{APOLOGY}"] and outbox.pending("logo") == 0
    [error] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert error.startswith("LoGo create_message failed: 400") and f"talk {PAIR_TALK}" in error


async def test_a_queued_answer_the_server_then_rejects_is_abandoned_with_one_error_line(
    server: LogoFakeServer, db: Database, manifest: Manifest, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(db, backoff=timedelta(seconds=0.1))
    server.fail_next("create_message", code=503, message="busy", retry_after=0, times=ATTEMPTS)
    server.fail_next("create_message", code=400, message="invalid content")
    adapter = make_adapter(server, engine=engine(), db=db, manifest=manifest, outbox=outbox,
                           redeliver_interval=0.1)
    with caplog.at_level(logging.INFO):
        async with running(adapter):
            await server.push_message(talk_id=PAIR_TALK, user_id=YAMADA, text="行政財産の貸付けは？")
            await until(lambda: len(server.attempts("create_message")) == ATTEMPTS + 1)
            await until(lambda: outbox.pending("logo") == 0)
            await asyncio.sleep(0.4)

    assert replies(server) == []
    assert len(server.attempts("create_message")) == ATTEMPTS + 1
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.exc_info is None
    message = error.getMessage()
    assert message.startswith("queued LoGo answer for message") and "refused" in message and "400" in message


def test_only_logo_errors_are_classified() -> None:
    assert is_outage(LogoError("x")) is False
