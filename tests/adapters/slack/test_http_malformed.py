"""Malformed or unsigned requests to /slack/events: 400/401, no traceback, no question text in the log."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from adapters.slack.http_checks import check_request
from bot.state.db import Database
from bot.state.events import EventLedger
from tests.adapters.slack.conftest import SIGNING_SECRET, load_fixture, sign
from tests.fakes.slack_api import FakeSlack

QUESTION_WORDS = "行政財産を貸し付けることはできますか"


def mention_body() -> bytes:
    payload = load_fixture("payload_app_mention.json")
    payload["event"]["text"] = f"<@U0KAIRAN> {QUESTION_WORDS}"
    return json.dumps(payload, ensure_ascii=False).encode()


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize(("body", "content_type"), [
    (b'{"type": "event_callback", "event": ', "application/json"),  # cut short
    (b"\xff\xfe{not utf-8}", "application/json"),
    (b"payload=%7Bnot-json", "application/x-www-form-urlencoded"),  # an interaction, broken
    (b"[1, 2, 3]", "application/json"),  # JSON, but not an object
])
async def test_a_signed_body_that_is_not_a_slack_payload_gets_400(
    body: bytes, content_type: str, make_adapter: Any, serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    running = await serve(make_adapter())
    status, _, _ = await running.post(body, sign(body), content_type)
    assert status == 400
    no_traceback(caplog)


@pytest.mark.parametrize("timestamp", ["yesterday", "", "1.5e9", "0x65a0", "１７１５００００００"])
async def test_a_timestamp_that_is_not_a_number_gets_400(
    timestamp: str, make_adapter: Any, serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    running = await serve(make_adapter())
    body = mention_body()
    headers = {**sign(body), "X-Slack-Request-Timestamp": timestamp}
    status, _, _ = await running.post(body, headers, "application/json")
    assert status == 400
    no_traceback(caplog)


async def test_an_invalid_signature_is_refused_without_logging_the_body(
    make_adapter: Any, serve: Any, slack: FakeSlack, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    running = await serve(make_adapter())
    body = mention_body()
    status, _, _ = await running.post(body, sign(body, secret="not-the-signing-secret"), "application/json")
    assert status == 401
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert QUESTION_WORDS not in logged
    assert "event_callback" not in logged  # no part of the payload
    assert any("signature" in r.getMessage() for r in caplog.records)  # the refusal itself is noted
    assert EventLedger(db).claim("slack", json.loads(body)["event_id"])  # never claimed


def test_check_request_is_pure_and_orders_its_reasons() -> None:
    body = mention_body()
    now = int(sign(body)["X-Slack-Request-Timestamp"])

    def check(data: bytes, headers: dict[str, str]) -> tuple[int, str] | None:
        return check_request(data, headers, signing_secret=SIGNING_SECRET, now=now)

    good = sign(body, timestamp=now)
    assert check(body, good) is None
    assert check(body, {}) == (401, "missing signature")
    assert check(body, sign(body, timestamp=now - 301)) == (401, "stale timestamp")
    wrong = sign(body, secret="x", timestamp=now)
    assert check(body, wrong) == (401, "invalid signature")
    assert check(body, {**good, "X-Slack-Request-Timestamp": "abc"}) == (400, "timestamp not a number")
    garbage = b"{oops"
    assert check(garbage, sign(garbage, timestamp=now)) == (400, "body not a Slack payload")
    # Unsigned garbage is a 401 (the signature is checked before the body is read as JSON).
    assert check(garbage, wrong) == (401, "invalid signature")
