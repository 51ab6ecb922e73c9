"""Slack Web API and Teams Bot Connector answering 429 and 5xx while the bot replies.

A throttled or briefly failing platform gets the reply retried (after Retry-After for 429, with
backoff for 5xx) and the thread ends with exactly one reply; each retry is one INFO line and no
WARNING is raised for a fault that healed. A platform that keeps failing gets no duplicate and
no apology it cannot deliver either: one ERROR line names the call, the conversation and status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

import pytest

from adapters.slack.retry import SERVER_ERROR_RETRIES
from adapters.teams.retry import MAX_RETRIES
from bot.state.db import Database
from bot.state.outbox import Outbox
from knowledge.search import Searcher
from tests.adapters.slack.conftest import SOUMU_CHANNEL, load_fixture
from tests.adapters.teams.conftest import CHANNEL, Teams, real_engine
from tests.fakes.slack_api import FakeSlack
from tests.faults.conftest import assert_one_clear_line, loud

EVENT_ID = "Ev0MENTION0001"  # payload_app_mention.json
MENTION_TS = "1715000000.000100"
TEAMS_THREAD = f"{CHANNEL};messageid=1748824267482"


async def mention(make_adapter: Any, serve: Any, slack: FakeSlack) -> None:
    running = await serve(make_adapter())
    status, _, _ = await running.event(load_fixture("payload_app_mention.json"))
    assert status == 200
    await slack.wait_for("reactions.remove", timeout=30)  # the adapter is done with the event


def answers(slack: FakeSlack) -> list[Any]:
    return [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == SOUMU_CHANNEL]


def info_lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno == logging.INFO]


# ----------------------------------------------------------------------------------------- Slack


async def test_slack_429_on_the_reply_is_retried_after_retry_after_and_posted_once(
    make_adapter: Any, serve: Any, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    slack.rate_limit_next("chat.postMessage", retry_after=1, times=2)
    with caplog.at_level(logging.INFO):
        await mention(make_adapter, serve, slack)

    attempts = slack.calls_to("chat.postMessage", ok_only=False)
    assert [c.status for c in attempts] == [429, 429, 200]
    assert attempts[2].time - attempts[1].time >= 1.0 and attempts[1].time - attempts[0].time >= 1.0
    [reply] = answers(slack)
    assert reply.params["thread_ts"] == MENTION_TS
    assert loud(caplog) == []
    retries = info_lines(caplog, "adapters.slack.retry")
    assert retries == [
        "Slack chat.postMessage: rate limited (HTTP 429, Retry-After 1); retry 1 of 3",
        "Slack chat.postMessage: rate limited (HTTP 429, Retry-After 1); retry 2 of 3",
    ]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_slack_5xx_on_the_reply_is_retried_and_posted_once(
    make_adapter: Any, serve: Any, slack: FakeSlack, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    slack.http_error_next("chat.postMessage", status)
    with caplog.at_level(logging.INFO):
        await mention(make_adapter, serve, slack)

    assert [c.status for c in slack.calls_to("chat.postMessage", ok_only=False)] == [status, 200]
    assert len(answers(slack)) == 1
    assert loud(caplog) == []
    assert info_lines(caplog, "adapters.slack.retry") == [
        f"Slack chat.postMessage: server error (HTTP {status}); retry 1 of {SERVER_ERROR_RETRIES}"
    ]


async def test_slack_failing_for_good_logs_one_error_and_posts_nothing_twice(
    make_adapter: Any, serve: Any, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    slack.http_error_next("chat.postMessage", 503, times=20)
    with caplog.at_level(logging.INFO):
        await mention(make_adapter, serve, slack)

    attempts = slack.calls_to("chat.postMessage", ok_only=False)
    assert [c.status for c in attempts] == [503] * (1 + SERVER_ERROR_RETRIES)  # no apology it cannot post
    assert answers(slack) == []
    assert_one_clear_line(
        caplog, "Slack chat.postMessage failed", EVENT_ID, SOUMU_CHANNEL, "service_unavailable", "HTTP 503"
    )
    assert len(slack.calls_to("reactions.remove")) == 1  # the progress mark is still cleared


async def test_slack_down_past_the_retries_gets_the_answer_queued_and_posted_once_when_back(
    make_adapter: Any, serve: Any, slack: FakeSlack, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # An outage longer than the retries: the answer waits in the outbox (state DB) instead of being
    # lost, and the redelivery loop posts it once when Slack takes posts again.
    outbox = Outbox(db, backoff=timedelta(seconds=0.2))
    slack.http_error_next("chat.postMessage", 503, times=1 + SERVER_ERROR_RETRIES + 2)  # + 1 redelivery
    with caplog.at_level(logging.INFO):
        running = await serve(make_adapter(outbox=outbox, redeliver_interval=0.2))
        status, _, _ = await running.event(load_fixture("payload_app_mention.json"))
        assert status == 200
        await slack.wait_for("reactions.remove", timeout=30)
        assert answers(slack) == [] and outbox.pending("slack") == 1
        deadline = time.monotonic() + 30
        while not answers(slack) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # later redelivery rounds must not post it again

    [reply] = answers(slack)
    assert reply.params["thread_ts"] == MENTION_TS
    assert outbox.pending("slack") == 0
    assert_one_clear_line(caplog, "Slack chat.postMessage failed", EVENT_ID, "HTTP 503", "queued")
    posted = [r.getMessage() for r in caplog.records if " posted " in r.getMessage()]
    assert any(f"queued Slack answer for event {EVENT_ID} in " in line for line in posted)


async def test_slack_rejecting_the_answer_gets_the_apology_instead_once(
    make_adapter: Any, serve: Any, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fail_next("chat.postMessage", "invalid_blocks")  # a 200 with ok=false: not retried
    with caplog.at_level(logging.INFO):
        await mention(make_adapter, serve, slack)

    [apology] = answers(slack)
    assert apology.params["text"].startswith("申し訳ありません")
    assert_one_clear_line(caplog, "Slack chat.postMessage failed", EVENT_ID, "invalid_blocks")


# ----------------------------------------------------------------------------------------- Teams


async def ask_teams(teams: Teams, kb_searcher: Searcher, **options: Any) -> Any:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db), **options)
    status, _ = await teams.post(adapter, teams.activity("channel_mention"))
    assert status == 202
    await adapter.drain()
    return adapter


async def test_teams_429_is_retried_after_retry_after_and_replied_once(
    teams: Teams, kb_searcher: Searcher, caplog: pytest.LogCaptureFixture
) -> None:
    teams.connector.fail_next(429, retry_after=1, kind="message")
    with caplog.at_level(logging.INFO):
        await ask_teams(teams, kb_searcher)
        answered = time.monotonic()

    [reply] = teams.connector.of_type("message")
    assert reply.conversation_id == TEAMS_THREAD
    [(status, refused_at)] = teams.connector.refused
    assert status == 429 and answered - refused_at >= 1.0
    assert loud(caplog) == []
    [retry] = info_lines(caplog, "adapters.teams.retry")
    assert retry.startswith("Teams connector answered HTTP 429 to a message activity; retry 1 of 3 in 1.0s")


async def test_teams_transient_5xx_is_retried_and_replied_once(
    teams: Teams, kb_searcher: Searcher, caplog: pytest.LogCaptureFixture
) -> None:
    teams.connector.fail_next(502, times=2, kind="message")
    with caplog.at_level(logging.INFO):
        await ask_teams(teams, kb_searcher)

    assert len(teams.connector.of_type("message")) == 1
    assert [s for s, _ in teams.connector.refused] == [502, 502]
    assert loud(caplog) == []  # the SDK's own "Error accessing …" line per attempt is dropped
    assert len(info_lines(caplog, "adapters.teams.retry")) == 2


async def test_teams_failing_for_good_logs_one_error_and_posts_nothing_twice(
    teams: Teams, kb_searcher: Searcher, caplog: pytest.LogCaptureFixture
) -> None:
    # Without an outbox the refused answer is only logged (with one, see the test below).
    teams.connector.fail_next(503, times=1 + MAX_RETRIES, kind="message")
    with caplog.at_level(logging.INFO):
        await ask_teams(teams, kb_searcher, queue_failures=False)

    assert teams.connector.of_type("message") == []  # nothing posted, no apology it cannot deliver
    assert [s for s, _ in teams.connector.refused] == [503] * (1 + MAX_RETRIES)
    assert_one_clear_line(caplog, "Teams connector answered HTTP 503", CHANNEL, "the answer was not posted")


async def test_teams_down_past_the_retries_gets_the_answer_queued_and_posted_once_when_back(
    teams: Teams, kb_searcher: Searcher, caplog: pytest.LogCaptureFixture
) -> None:
    # An outage longer than the retries: the answer waits in the outbox (state DB) instead of being
    # lost, the first redelivery is refused too, and a later one posts it once into the thread.
    outbox = Outbox(teams.db, backoff=timedelta(seconds=0.2))
    teams.connector.fail_next(503, times=2 * (1 + MAX_RETRIES), retry_after=0, kind="message")
    with caplog.at_level(logging.INFO):
        await ask_teams(teams, kb_searcher, outbox=outbox, redeliver_interval=0.2)
        assert teams.connector.of_type("message") == [] and outbox.pending("teams") == 1
        await teams.connector.wait_for(1, kind="message", timeout=30)
        await asyncio.sleep(1.0)  # later redelivery rounds must not post it again

    [reply] = teams.connector.of_type("message")
    assert reply.conversation_id == TEAMS_THREAD
    assert "地方自治法" in reply.activity["text"]
    assert [s for s, _ in teams.connector.refused] == [503] * (2 * (1 + MAX_RETRIES))
    assert outbox.pending("teams") == 0
    assert_one_clear_line(caplog, "Teams connector answered HTTP 503", CHANNEL, "queued")
    assert any(
        r.levelno == logging.INFO and "queued Teams answer" in r.getMessage() and "posted" in r.getMessage()
        for r in caplog.records
    )
