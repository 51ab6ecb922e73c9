"""Socket Mode: the real Bolt AsyncSocketModeHandler against a local server speaking the envelope protocol."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.slack.app import SlackAdapter, SlackConfigError
from bot.state.db import Database
from bot.state.feedback import FeedbackStore
from tests.adapters.slack.conftest import APP_TOKEN, SOUMU_CHANNEL, load_fixture
from tests.fakes.slack_api import FakeSlack

MENTION_TS = "1715000000.000100"


def envelope(
    envelope_id: str, payload: dict[str, Any], *, kind: str = "events_api", retry: int = 0
) -> dict[str, Any]:
    return {
        "envelope_id": envelope_id,
        "type": kind,
        "accepts_response_payload": False,
        "retry_attempt": retry,
        "retry_reason": "timeout" if retry else "",
        "payload": payload,
    }


@pytest.fixture
async def socket_adapter(make_adapter: Any, slack: FakeSlack) -> AsyncIterator[SlackAdapter]:
    adapter = make_adapter(mode="socket", app_token=APP_TOKEN, signing_secret=None)
    await adapter.start()
    await slack.wait_connected()
    yield adapter
    await adapter.stop()


async def test_connects_with_the_app_token_and_answers_an_events_api_envelope(
    socket_adapter: SlackAdapter, slack: FakeSlack
) -> None:
    [opened] = slack.calls_to("apps.connections.open")
    assert opened.token == APP_TOKEN
    assert slack.ws_connections == 1
    assert socket_adapter.connected()

    envelope_id = "9c1f0001-aaaa-4bbb-8ccc-000000000001"
    await slack.push_envelope(envelope(envelope_id, load_fixture("payload_app_mention.json")))
    ack = await slack.wait_for_ack(envelope_id)
    assert set(ack) == {"envelope_id", "_time"}  # a bare ack: {"envelope_id": ...}
    [post] = await slack.wait_for("chat.postMessage")
    assert ack["_time"] < post.time
    assert post.params["channel"] == SOUMU_CHANNEL
    assert post.params["thread_ts"] == MENTION_TS
    assert any(
        "<https://laws.e-gov.go.jp/law/405AC0000000088#Mp-At_5|行政手続法 第五条> ✅" in b["text"]["text"]
        for b in post.params["blocks"] if b["type"] == "section"
    )


async def test_redelivered_envelope_is_acked_but_not_answered_again(
    socket_adapter: SlackAdapter, slack: FakeSlack
) -> None:
    payload = load_fixture("payload_app_mention.json")
    await slack.push_envelope(envelope("env-first", payload))
    await slack.wait_for("chat.postMessage")
    await slack.push_envelope(envelope("env-retry", copy.deepcopy(payload), retry=1))
    await slack.wait_for_ack("env-retry")
    await slack.push_envelope(envelope("env-dm", load_fixture("payload_message_im.json")))
    posts = await slack.wait_for("chat.postMessage", count=2)
    assert [p.params["channel"] for p in posts] == [SOUMU_CHANNEL, "D0STAFF002"]
    assert len(slack.calls_to("reactions.add")) == 1


async def test_feedback_click_arrives_as_an_interactive_envelope(
    socket_adapter: SlackAdapter, slack: FakeSlack, db: Database
) -> None:
    await slack.push_envelope(envelope("env-q", load_fixture("payload_app_mention.json")))
    [post] = await slack.wait_for("chat.postMessage")
    audit_id = next(b for b in post.params["blocks"] if b["type"] == "actions")["elements"][1]["value"]
    click = load_fixture("payload_block_actions.json")
    click["actions"][0] |= {"value": audit_id, "action_id": "kairan_feedback_not_helpful"}
    await slack.push_envelope(envelope("env-click", click, kind="interactive"))
    await slack.wait_for_ack("env-click")
    await slack.wait_for("chat.postEphemeral")
    assert [f.value for f in FeedbackStore(db).for_answer(audit_id)] == ["not_helpful"]


async def test_stop_disconnects(make_adapter: Any, slack: FakeSlack) -> None:
    adapter = make_adapter(mode="socket", app_token=APP_TOKEN, signing_secret=None)
    assert not adapter.connected()
    await adapter.start()
    await slack.wait_connected()
    assert adapter.connected()
    await adapter.stop()
    assert not adapter.connected()


async def test_a_rejected_app_token_fails_start_with_a_clear_error(
    make_adapter: Any, slack: FakeSlack
) -> None:
    slack.fail_next("apps.connections.open", "invalid_auth")
    adapter = make_adapter(mode="socket", app_token=APP_TOKEN, signing_secret=None)
    with pytest.raises(SlackConfigError, match=r"apps\.connections\.open failed: invalid_auth"):
        await adapter.start()
    assert not adapter.connected()
    assert slack.ws_connections == 0
