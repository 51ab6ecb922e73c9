"""Requests as large as Slack sends them, through ``kairan serve``'s own application (issue 18).

``kairan serve`` reads at most 64 KiB of a request body, which is right for the console but not
for Slack: a pasted long question arrives twice in its event (``text`` and the rich-text
``blocks``), and a click on a button carries the whole message it is on. Both were refused with
413 before Bolt saw them — no answer, no apology, no vote. Here the real runtime, adapters and HTTP
application (``build_services`` / ``build_app``) serve ``/slack/events`` against the mock Web API.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from adapters.slack.app import MAX_BODY_BYTES, SlackAdapter
from bot import wording
from bot.models import Answer, ConversationRef
from bot.state.feedback import FeedbackStore
from kairan.serve import Services, build_app, build_services
from kairan.wiring import KnowledgeConfig
from manifest.schema import Manifest
from tests.adapters.slack.conftest import (
    BOT_TOKEN,
    SIGNING_SECRET,
    SOUMU_CHANNEL,
    Running,
    load_fixture,
    sign,
)
from tests.fakes.local_http import serve_locally
from tests.fakes.slack_api import FakeSlack

MENTION_TS = "1715000000.000100"
SENTENCE = "申請に対する処分について、法令の定めに従って判断するための基準を定める。"
PASTED = "審査基準の案です。" + SENTENCE * 390


def rich_text(text: str) -> list[dict[str, Any]]:
    """The rich_text block Slack puts beside a message's ``text`` (the same words again)."""
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
    return [{"type": "rich_text", "block_id": "Kf3Qa", "elements": [section]}]


@pytest.fixture
async def served(kb_dir: Path, tmp_path: Path, slack: FakeSlack) -> AsyncIterator[tuple[Services, Running]]:
    """``kairan serve`` with Slack configured from the environment (HTTP mode), listening on 127.0.0.1."""
    environ = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_MODE": "http",
               "SLACK_API_URL": slack.api_url}
    manifest = Manifest.model_validate({"state": {"url": f"sqlite:///{tmp_path / 'state.db'}"}})
    services = build_services(KnowledgeConfig(manifest=manifest, data_dir=kb_dir), environ=environ)
    runner, port = await serve_locally(build_app(services, host="127.0.0.1", environ=environ))
    [adapter] = services.adapters
    assert isinstance(adapter, SlackAdapter)
    await adapter.start()
    session = aiohttp.ClientSession()
    url = f"http://127.0.0.1:{port}/slack/events"
    try:
        yield services, Running(adapter, url, session)
    finally:
        await session.close()
        await services.stop()
        await runner.cleanup()
        await services.close()


async def test_a_pasted_long_question_is_answered(served: tuple[Services, Running], slack: FakeSlack) -> None:
    _, running = served
    payload = load_fixture("payload_app_mention.json")
    text = f"<@U0KAIRANBOT> 行政手続法第五条の審査基準について、次の案で足りますか。\n{PASTED}"
    payload["event"] |= {"text": text, "blocks": rich_text(text)}
    body = json.dumps(payload, ensure_ascii=False).encode()
    assert 80_000 < len(body) < 90_000  # the ~85 KB request of the report
    status, _, _ = await running.post(body, sign(body), "application/json")
    assert status == 200
    [post] = await slack.wait_for("chat.postMessage")
    assert post.params["thread_ts"] == MENTION_TS
    assert wording.APOLOGY not in post.params["text"]
    assert "行政手続法 第五条" in json.dumps(post.params["blocks"], ensure_ascii=False)


async def test_a_feedback_click_on_a_long_answer_is_recorded(
    served: tuple[Services, Running], slack: FakeSlack
) -> None:
    services, running = served
    await running.event(load_fixture("payload_app_mention.json"))  # an answer, and its audit record
    [first] = await slack.wait_for("chat.postMessage")
    audit_id = next(b for b in first.params["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    long = Answer(text="回答の本文です。" * 1125, citations=(), abstained=False, audit_id=audit_id)
    await running.adapter.send(ConversationRef("slack", "local", SOUMU_CHANNEL, MENTION_TS), long)
    [_, post] = slack.calls_to("chat.postMessage")
    assert len(long.text) == 9_000

    click = load_fixture("payload_block_actions.json")
    click["actions"][0]["value"] = audit_id
    click["message"] |= {"text": post.params["text"], "blocks": post.params["blocks"]}  # as Slack sends it
    body = urlencode({"payload": json.dumps(click, ensure_ascii=False)}).encode()
    assert len(body) > 64 * 1024
    status, _, _ = await running.post(body, sign(body), "application/x-www-form-urlencoded")
    assert status == 200
    [thanks] = await slack.wait_for("chat.postEphemeral")
    assert thanks.params["text"] == wording.FEEDBACK_THANKS
    assert [f.value for f in FeedbackStore(services.db).for_answer(audit_id)] == ["helpful"]


def slack_sized_body(characters: int) -> bytes:
    """An event with a message of ``characters`` characters, its words in ``text`` and again in the
    rich-text blocks, every character JSON-escaped (\\uXXXX): the most bytes Slack sends for it."""
    payload = load_fixture("payload_app_mention.json")
    text = "規" * characters
    payload["event"] |= {"type": "message", "subtype": "message_changed"}
    payload["event"] |= {"text": text, "blocks": rich_text(text)}
    return json.dumps(payload, ensure_ascii=True).encode()


async def test_the_body_limit_is_slacks_own(served: tuple[Services, Running], slack: FakeSlack) -> None:
    """The largest message Slack takes (40,000 characters) is read; a body past the limit still gets 413."""
    _, running = served
    largest = slack_sized_body(40_000)
    assert len(largest) <= MAX_BODY_BYTES
    status, _, _ = await running.post(largest, sign(largest), "application/json")
    assert status == 200
    too_large = slack_sized_body(MAX_BODY_BYTES // 12 + 1)
    status, _, _ = await running.post(too_large, sign(too_large), "application/json")
    assert status == 413
    console = await running.session.post(running.url.replace("/slack/events", "/console/api/ask"),
                                         data=b"x" * (64 * 1024 + 1), headers={"X-Kairan-Console": "1"})
    assert console.status == 413  # the rest of the server keeps its own limit
