"""The mock Slack Web API refuses what Slack refuses, so a test that posts through it can fail.

The Block Kit checks are slack_sdk's own models; the scope and size rules are Slack's (see
``tests/fakes/slack_api.py``). Each rule is shown refusing a payload Slack refuses and taking the
nearest one it takes.
"""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import MAX_BLOCK_TEXT, FakeSlack, block_kit_problems


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(value: str) -> dict[str, Any]:
    return {"type": "actions", "elements": [{
        "type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "押す"}, "value": value,
    }]}


@pytest.mark.parametrize(("blocks", "problem"), [
    ([section("あ" * 3001)], "cannot exceed 3000"),
    ([button("v" * 2001)], "cannot exceed 2000"),
    ([{"type": "header", "text": {"type": "plain_text", "text": "見出し" * 51}}], "cannot exceed 150"),
    ([{"type": "no_such_block"}], "not a Block Kit block"),
    ([{"type": "section", "text": "a bare string"}], "does not survive"),
    ([section("a")] * 51, "51 blocks"),
])
def test_block_kit_problems_are_slack_sdks_own(blocks: list[dict[str, Any]], problem: str) -> None:
    problems = block_kit_problems(blocks)
    assert any(problem in p for p in problems), problems


def test_valid_blocks_have_no_problems() -> None:
    assert block_kit_problems([section("あ" * 3000), button("v" * 2000)] + [section("b")] * 48) == []


async def test_the_mock_refuses_invalid_and_oversized_blocks_like_slack() -> None:
    async with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        with pytest.raises(SlackApiError) as invalid:
            await client.chat_postMessage(channel="C1", text="t", blocks=[section("あ" * 3001)])
        assert invalid.value.response["error"] == "invalid_blocks"
        full = [section("あ" * 3000)] * (MAX_BLOCK_TEXT // 3000) + [section("あ" * (MAX_BLOCK_TEXT % 3000))]
        await client.chat_postMessage(channel="C1", text="t", blocks=full)
        with pytest.raises(SlackApiError) as too_long:
            await client.chat_update(channel="C1", ts="1.0", text="t", blocks=[*full, section("あ")])
        assert too_long.value.response["error"] == "msg_blocks_too_long"
        assert len(slack.calls_to("chat.postMessage")) == 1 and slack.calls_to("chat.update") == []


async def test_the_mock_refuses_a_method_the_token_has_no_scope_for() -> None:
    async with FakeSlack(scopes=frozenset({"chat:write", "channels:history"})) as slack:
        slack.set_channel_kind("C0PRIVATE1", "private")
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        await client.conversations_history(channel="C0PUBLIC01")
        for channel, needed in (("C0PRIVATE1", "groups:history"), ("D0STAFF001", "im:history")):
            with pytest.raises(SlackApiError) as refused:
                await client.conversations_history(channel=channel)
            error = refused.value.response
            assert (error["error"], error["needed"]) == ("missing_scope", needed)
        with pytest.raises(SlackApiError) as no_reactions:
            await client.reactions_add(channel="C0PUBLIC01", timestamp="1.0", name="eyes")
        assert no_reactions.value.response["needed"] == "reactions:write"
