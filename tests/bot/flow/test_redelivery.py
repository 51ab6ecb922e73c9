"""The shared redelivery loop over a real (SQLite) outbox, with a scripted ``post``."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest

from bot.flow.redelivery import Redelivery
from bot.state.db import Database
from bot.state.outbox import Outbox, Queued


class Outage(Exception):
    pass


class Refused(Exception):
    pass


def classify(exc: Exception) -> bool | None:
    return True if isinstance(exc, Outage) else False if isinstance(exc, Refused) else None


class ScriptedPost:
    """Records what it posts; ``failures[message]`` are raised, in turn, by the next posts of it."""

    def __init__(self, **failures: list[Exception]) -> None:
        self.failures = failures
        self.calls: list[str] = []
        self.posted: list[Any] = []

    async def __call__(self, entry: Queued, message: Any) -> None:
        self.calls.append(message)
        if self.failures.get(message):
            raise self.failures[message].pop(0)
        self.posted.append(message)


def redelivery(outbox: Outbox, post: ScriptedPost) -> Redelivery:
    return Redelivery(outbox, "chat", post, classify=classify, label="Chat")


async def test_an_outage_keeps_the_rest_for_a_later_round_in_order(db: Database) -> None:
    outbox = Outbox(db, backoff=timedelta(0))
    outbox.add("chat", "k1", "c1", None, ["one", "two", "three"])
    post = ScriptedPost(two=[Outage("HTTP 503")])
    loop = redelivery(outbox, post)
    assert await loop.redeliver_due() == 0
    assert outbox.pending("chat") == 1
    assert await loop.redeliver_due() == 1
    assert post.calls == ["one", "two", "two", "three"]  # "one" is not posted twice
    assert post.posted == ["one", "two", "three"]
    assert outbox.pending("chat") == 0 and await loop.redeliver_due() == 0


async def test_an_outage_past_give_up_after_is_abandoned_with_one_error_line(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(db, give_up_after=timedelta(0))
    outbox.add("chat", "k1", "c1", None, ["one"])
    with caplog.at_level(logging.INFO):
        assert await redelivery(outbox, ScriptedPost(one=[Outage("HTTP 503")])).redeliver_due() == 0
    assert outbox.pending("chat") == 0
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert line == "queued Chat answer k1 abandoned after 1 attempts: HTTP 503"


async def test_a_failure_that_is_not_a_delivery_failure_is_raised_and_the_entry_kept(db: Database) -> None:
    outbox = Outbox(db)
    outbox.add("chat", "k1", "c1", None, ["one"])
    with pytest.raises(RuntimeError):
        await redelivery(outbox, ScriptedPost(one=[RuntimeError("bug")])).redeliver_due()
    assert outbox.pending("chat") == 1  # taken until its lease ends, then tried again


async def test_a_round_is_skipped_while_not_ready(db: Database) -> None:
    outbox = Outbox(db)
    outbox.add("chat", "k1", "c1", None, ["one"])
    post = ScriptedPost()
    loop = Redelivery(outbox, "chat", post, classify=classify, label="Chat", ready=lambda: False,
                      interval=0.01)
    loop.start()
    await asyncio.sleep(0.1)
    await loop.stop()
    assert post.posted == [] and len(outbox.take_due("chat")) == 1  # never taken


async def test_a_refused_entry_is_abandoned_with_one_error_line(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(db)
    outbox.add("chat", "k1", "c1", None, ["one", "two"])
    post = ScriptedPost(two=[Refused("HTTP 400")])
    with caplog.at_level(logging.INFO):
        assert await redelivery(outbox, post).redeliver_due() == 0
    assert post.posted == ["one"] and outbox.pending("chat") == 0
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert line == "queued Chat answer k1 refused: HTTP 400; not posted"
