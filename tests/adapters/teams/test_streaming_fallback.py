"""Teams refusing a stream must not cost the answer (personal chat, real SDK, mock Bot Connector).

Teams answers a streaming update 403 ``ContentStreamNotAllowed`` when streaming is not allowed for
the bot or user, when the stream passed its two-minute limit ("Content stream finished due to
exceeded streaming time." — the final message included), or when the user stopped it. The
answer is computed and verified by then: it is put in place of what was streamed (the limit),
posted as a plain message (any other refusal), or, when the user stopped it, not posted at all.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from adapters.teams import render
from bot import wording
from bot.state.audit import AuditLog
from knowledge.search import Searcher
from tests.adapters.teams.conftest import Teams, real_engine
from tests.adapters.teams.test_http import CAFE, LLM_TEXT, PERSONAL_ID, assert_citations, message_entity
from tests.fakes.engines import ScriptedProvider
from tests.fakes.teams_connector import Posted

NOT_ALLOWED = "Content stream is not allowed"
TIMED_OUT = "Content stream finished due to exceeded streaming time."
CANCELLED = "Content stream was cancelled by user."


async def ask(teams: Teams, kb_searcher: Searcher, *refusals: dict[str, Any]) -> str:
    """A personal-chat question answered by a streaming LLM, Teams refusing as ``refusals`` say;
    returns the personal chat's conversation id."""
    provider = ScriptedProvider(LLM_TEXT, latency=0.8, pieces=4)
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db, provider), stream_interval=0.1)
    for refusal in refusals:
        teams.connector.fail_next(**{"status": 403, "code": "ContentStreamNotAllowed", **refusal})
    status, _ = await teams.post(adapter, teams.activity("personal_message", text=CAFE))
    assert status == 202
    await adapter.drain()
    for adapter in teams.adapters:
        assert adapter.in_flight == 0
    return render.base_conversation_id(teams.activity("personal_message")["conversation"]["id"])


def assert_the_answer(posted: Posted) -> None:
    """The verified answer, whole, with its citations and AI label, and no streaming entity."""
    text = posted.activity["text"]
    assert text.startswith("行政財産である庁舎は") and text.endswith("ご確認ください。")
    assert posted.stream_info() is None
    assert message_entity(posted)["additionalType"] == ["AIGeneratedContent"]
    assert_citations(message_entity(posted), text)
    assert posted.activity["channelData"]["feedbackLoopEnabled"] is True


def assert_feedback_finds_the_audit_record(teams: Teams, conversation: str, message_id: str) -> None:
    """A vote on the posted message leads to the one audit record of the answer."""
    [record] = AuditLog(teams.db).records()
    assert teams.adapters[0].conversations.audit_id_for(conversation, message_id) == record.id


def no_apology(teams: Teams) -> bool:
    return all(p.activity.get("text") != wording.APOLOGY for p in teams.connector.posted)


def streamed(teams: Teams) -> list[str]:
    """The streamType of every streaming update posted, in order."""
    return [str(info["streamType"]) for p in teams.connector.posted if (info := p.stream_info())]


def stream_id(teams: Teams) -> str:
    """The stream's id: the id Teams gave its first (informative) update."""
    [informative] = [
        p for p in teams.connector.posted if (p.stream_info() or {}).get("streamType") == "informative"
    ]
    return informative.id


async def test_streaming_refused_from_the_start_gets_the_answer_as_a_plain_message(
    teams: Teams, kb_searcher: Searcher
) -> None:
    personal = await ask(teams, kb_searcher, {"stream": "informative", "message": NOT_ALLOWED})

    assert [s for s, _ in teams.connector.refused] == [403]
    assert streamed(teams) == []  # the refused informative update is not among the posted
    [answer] = teams.connector.of_type("message")
    assert (answer.method, answer.reply_to_id) == ("POST", PERSONAL_ID)
    assert_the_answer(answer)
    assert_feedback_finds_the_audit_record(teams, personal, answer.id)


async def test_a_refused_final_streaming_message_is_posted_as_a_plain_message(
    teams: Teams, kb_searcher: Searcher
) -> None:
    personal = await ask(teams, kb_searcher, {"stream": "final", "message": NOT_ALLOWED})

    assert no_apology(teams)
    [answer] = teams.connector.of_type("message")  # the refused final is not among the posted
    assert (answer.method, answer.reply_to_id) == ("POST", PERSONAL_ID)
    assert_the_answer(answer)
    assert_feedback_finds_the_audit_record(teams, personal, answer.id)


async def test_a_stream_past_its_two_minute_limit_is_replaced_in_place_by_the_answer(
    teams: Teams, kb_searcher: Searcher
) -> None:
    personal = await ask(teams, kb_searcher, {"stream": "final", "message": TIMED_OUT})

    assert no_apology(teams)
    [answer] = teams.connector.of_type("message")
    # PUT /v3/conversations/{id}/activities/{stream id}: the streamed message now shows the answer.
    assert (answer.method, answer.reply_to_id) == ("PUT", stream_id(teams))
    assert_the_answer(answer)
    assert_feedback_finds_the_audit_record(teams, personal, stream_id(teams))


async def test_a_stream_ended_at_the_limit_mid_answer_is_not_updated_again_then_replaced(
    teams: Teams, kb_searcher: Searcher
) -> None:
    await ask(teams, kb_searcher, {"stream": "streaming", "message": TIMED_OUT})

    assert [s for s, _ in teams.connector.refused] == [403]  # no update tried after the limit
    assert streamed(teams) == ["informative"]
    [answer] = teams.connector.of_type("message")
    assert (answer.method, answer.reply_to_id) == ("PUT", stream_id(teams))
    assert_the_answer(answer)


async def test_when_the_streamed_message_cannot_be_replaced_the_answer_is_posted(
    teams: Teams, kb_searcher: Searcher
) -> None:
    replace_refused = {"status": 404, "kind": "message"}
    await ask(teams, kb_searcher, {"stream": "final", "message": TIMED_OUT}, replace_refused)

    assert [s for s, _ in teams.connector.refused] == [403, 404]
    assert no_apology(teams)
    [answer] = teams.connector.of_type("message")
    assert (answer.method, answer.reply_to_id) == ("POST", PERSONAL_ID)
    assert_the_answer(answer)


async def test_a_stream_the_user_stopped_gets_nothing_more(
    teams: Teams, kb_searcher: Searcher, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="adapters.teams.channel"):
        await ask(teams, kb_searcher, {"stream": "streaming", "message": CANCELLED})

    assert [s for s, _ in teams.connector.refused] == [403]
    assert teams.connector.of_type("message") == []  # neither the answer nor an apology
    assert streamed(teams) == ["informative"]
    assert "stopped" in caplog.text
    assert len(list(AuditLog(teams.db).records())) == 1  # answered (and audited), just not shown
