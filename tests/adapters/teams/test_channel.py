"""Teams as a channel of the question lifecycle: refused answers queued in the state DB, redelivered
proactively or abandoned; what counts as an outage.

The outage case (503 past the retries, then exactly one answer when Teams is back) is a fault test
in tests/faults/test_chat_api_faults.py; these cover the refusals, the apology and the classification.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.client_reqrep import RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from adapters.teams.channel import classify, explain, queued_item
from adapters.teams.render import text_activity
from adapters.teams.retry import MAX_RETRIES, TeamsDeliveryError
from bot import wording
from bot.ports import Failure
from bot.state.outbox import Outbox
from knowledge.search import Searcher
from tests.adapters.teams.conftest import CHANNEL, Teams, real_engine
from tests.fakes.engines import FailingEngine

OUTAGE = 1 + MAX_RETRIES  # refusals until send_with_retry gives up once
THREAD = f"{CHANNEL};messageid=1748824267482"


def loud(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


async def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def test_a_refused_redelivery_is_abandoned_with_one_error_line(
    teams: Teams, kb_searcher: Searcher, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(teams.db, backoff=timedelta(seconds=0.1))
    teams.connector.fail_next(503, times=OUTAGE, retry_after=0, kind="message")
    teams.connector.fail_next(400, kind="message")  # Teams is back but rejects the activity
    with caplog.at_level(logging.INFO):
        adapter = await teams.start_adapter(
            real_engine(kb_searcher, teams.db), outbox=outbox, redeliver_interval=0.1
        )
        status, _ = await teams.post(adapter, teams.activity("channel_mention"))
        assert status == 202
        await adapter.drain()
        assert outbox.pending("teams") == 1
        await until(lambda: outbox.pending("teams") == 0)
        await asyncio.sleep(0.5)  # no later round posts it

    assert teams.connector.of_type("message") == []
    assert [s for s, _ in teams.connector.refused] == [503] * OUTAGE + [400]
    warning, error = loud(caplog)
    assert warning.levelno == logging.WARNING and "queued" in warning.getMessage()
    assert error.levelno == logging.ERROR and error.exc_info is None
    for needle in ("queued Teams answer", CHANNEL, "refused", "HTTP 400", "not posted"):
        assert needle in error.getMessage(), (needle, error.getMessage())


async def test_an_apology_teams_refuses_is_queued_and_posted_later(
    teams: Teams, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(teams.db, backoff=timedelta(seconds=0.1))
    teams.connector.fail_next(503, times=OUTAGE, retry_after=0, kind="message")
    with caplog.at_level(logging.INFO):
        adapter = await teams.start_adapter(
            FailingEngine(RuntimeError("index unavailable")), outbox=outbox, redeliver_interval=0.1
        )
        await teams.post(adapter, teams.activity("channel_mention"))
        await adapter.drain()
        [apology] = await teams.connector.wait_for(1, kind="message")
        await asyncio.sleep(0.5)

    assert len(teams.connector.of_type("message")) == 1
    assert apology.activity["text"] == wording.APOLOGY and apology.conversation_id == THREAD
    assert outbox.pending("teams") == 0
    queued = [r for r in loud(caplog) if "queued" in r.getMessage()]
    assert len(queued) == 1 and queued[0].levelno == logging.WARNING


def refusal(status: int) -> aiohttp.ClientResponseError:
    return aiohttp.ClientResponseError(RequestInfo(URL("https://smba.example/v3"), "POST", CIMultiDictProxy(
        CIMultiDict())), (), status=status)


@pytest.mark.parametrize(
    ("error", "failure", "explained"),
    [
        (refusal(503), Failure.OUTAGE, "Teams connector answered HTTP 503"),
        (refusal(429), Failure.OUTAGE, "Teams connector answered HTTP 429"),
        (refusal(400), Failure.REFUSED, "Teams connector answered HTTP 400"),
        (aiohttp.ClientConnectionError("refused"), Failure.OUTAGE, "Teams could not be reached"),
        (TeamsDeliveryError("no reference stored for x"), Failure.REFUSED, "no reference stored for x"),
        (TeamsDeliveryError("HTTP 502", retryable=True), Failure.OUTAGE, "HTTP 502"),
        (RuntimeError("a bug"), Failure.BUG, "Teams could not be reached: RuntimeError"),
    ],
)
def test_an_outage_is_told_from_a_refusal_and_a_bug(
    error: Exception, failure: Failure, explained: str
) -> None:
    assert classify(error) is failure
    assert explain(error).startswith(explained)


def test_a_rendered_message_carries_its_audit_id_for_feedback() -> None:
    item = queued_item(text_activity("回答"), "audit-1")
    assert item == {"activity": text_activity("回答"), "audit_id": "audit-1"}
