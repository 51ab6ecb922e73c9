"""The Teams adapter end to end: the real Agents SDK over real HTTP on 127.0.0.1.

Activities from tests/fixtures/teams are posted to ``/api/messages`` with RS256 Bot Framework
tokens signed by a key the test generates and publishes through a local OpenID metadata / JWKS
endpoint (only ``JwtTokenValidator._jwk_client_manager`` is replaced, see tests/fakes/teams_auth.py).
Replies are captured by a local mock of the Bot Connector REST API that the activities'
``serviceUrl`` points to. Answers come from the real AnswerEngine over 地方自治法.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import unicodedata
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

import pytest
from microsoft_agents.hosting.core.authorization import AuthenticationConstants

from adapters.teams import render
from bot import wording
from bot.engine import AnswerEngine
from bot.models import Answer, Citation, ConversationRef, Digest, IncomingMessage
from bot.state.audit import AuditLog
from bot.state.feedback import FeedbackStore
from knowledge.search import Searcher
from tests.adapters.teams.conftest import (
    AAD_TENANT,
    APP_ID,
    CHANNEL,
    GROUP_CHAT,
    SOUMU_DIGEST,
    TEAM,
    Teams,
    real_engine,
)
from tests.fakes.engines import FailingEngine, ScriptedProvider
from tests.fakes.teams_auth import OUTBOUND_TOKEN, new_key
from tests.fakes.teams_connector import Posted

ROOT_ID = "1748824267482"  # the channel post that mentions the bot
THREAD = f"{CHANNEL};messageid={ROOT_ID}"
PERSONAL_ID = "1748826344123"
CAFE = "行政財産である庁舎の空きスペースを民間のカフェに貸すことはできますか？"
Q_PRINCIPLE = (
    "これを貸し付け、交換し、売り払い、譲与し、出資の目的とし、"
    "若しくは信託し、又はこれに私権を設定することができない"
)
Q_SURPLUS = "当該余裕がある部分を貸し付けるとき"
LLM_TEXT = (
    f"行政財産である庁舎は、原則として「{Q_PRINCIPLE}」とされています[1]。\n"
    f"ただし、床面積に余裕がある場合には「{Q_SURPLUS}」は貸し付けることができます[1]。"
)


class Recording:
    """Passes questions to the real engine and records what the adapter asked."""

    def __init__(self, engine: AnswerEngine) -> None:
        self.engine = engine
        self.asked: list[tuple[IncomingMessage, list[str] | None]] = []

    def stream(
        self, message: IncomingMessage, *, collections: Sequence[str] | None = None
    ) -> AsyncIterator[str | Answer]:
        self.asked.append((message, None if collections is None else list(collections)))
        return self.engine.stream(message, collections=collections)

    async def answer(self, message: IncomingMessage, *, collections: Sequence[str] | None = None) -> Answer:
        self.asked.append((message, None if collections is None else list(collections)))
        return await self.engine.answer(message, collections=collections)


def message_entity(posted: Posted) -> dict[str, Any]:
    return message_entity_of(posted.activity)


def message_entity_of(activity: dict[str, Any]) -> dict[str, Any]:
    [entity] = [e for e in activity.get("entities", []) if e.get("type") == "https://schema.org/Message"]
    return entity


def assert_citations(entity: dict[str, Any], text: str) -> list[dict[str, Any]]:
    claims = entity["citation"]
    assert entity["@type"] == "Message" and entity["@context"] == "https://schema.org"
    assert [c["position"] for c in claims] == list(range(1, len(claims) + 1))
    for claim in claims:
        assert claim["@type"] == "Claim"
        appearance = claim["appearance"]
        assert appearance["@type"] == "DigitalDocument"
        assert 0 < len(appearance["abstract"]) <= render.ABSTRACT_MAX
        assert appearance["url"].startswith("https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_")
        assert appearance["name"].startswith("地方自治法 第")
        assert f"[{claim['position']}]" in text
    return claims


# --- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["missing", "forged", "wrong_audience", "expired", "not_bearer"])
async def test_bad_tokens_are_refused_with_401_and_nothing_is_answered(
    teams: Teams, kb_searcher: Searcher, case: str
) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    headers: dict[str, str | None] = {
        "missing": None,
        "forged": f"Bearer {teams.token(key=new_key())}",  # same kid, another key
        "wrong_audience": f"Bearer {teams.token(audience='9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a')}",
        "expired": f"Bearer {teams.token(issued_at=time.time() - 3600 - 400)}",  # past the 300 s leeway
        "not_bearer": "Basic a2FpcmFuOmthaXJhbg==",
    }
    status, body = await teams.post(adapter, teams.activity("channel_mention"), authorization=headers[case])

    assert status == 401
    assert "error" in body
    assert adapter.in_flight == 0
    await asyncio.sleep(0.2)
    assert teams.connector.posted == []
    assert list(AuditLog(teams.db).records()) == []
    assert adapter.conversations.get(CHANNEL) is None


async def test_the_sdk_resolves_bot_framework_keys_through_the_published_metadata(
    teams: Teams, kb_searcher: Searcher
) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    status, _ = await teams.post(adapter, teams.activity("installation_update"))

    assert status == 202
    # The SDK picked the Bot Framework JWKS for a Bot Framework token; the keys came from the local
    # endpoint the local metadata document names.
    assert teams.jwks.requested == [AuthenticationConstants.PUBLIC_ABS_JWKS_URL]
    assert teams.issuer.jwks_requests == 1
    assert teams.issuer.metadata_requests == 1


# --- channels, group chats ------------------------------------------------------------------------


async def test_channel_mention_gets_a_cited_ai_labelled_reply_in_the_same_thread(
    teams: Teams, kb_searcher: Searcher
) -> None:
    provider = ScriptedProvider(LLM_TEXT)
    engine = Recording(real_engine(kb_searcher, teams.db, provider))
    adapter = await teams.start_adapter(engine)

    status, _ = await teams.post(adapter, teams.activity("channel_mention"))
    assert status == 202  # acknowledged before the answer is written
    [reply] = await teams.connector.wait_for(1)
    await adapter.drain()

    typing = teams.connector.of_type("typing")
    assert typing and teams.connector.posted.index(typing[0]) < teams.connector.posted.index(reply)
    for posted in teams.connector.posted:  # every post goes to the thread the question came from
        assert (posted.conversation_id, posted.reply_to_id) == (THREAD, ROOT_ID)
        assert posted.authorization == f"Bearer {OUTBOUND_TOKEN}"
    # The question reached the engine without the mention, scoped to 横須賀市's collections.
    [(message, collections)] = engine.asked
    assert (message.text, collections) == (CAFE, ["laws"])
    assert message.ref == ConversationRef("teams", "yokosuka", CHANNEL, thread=ROOT_ID, message=ROOT_ID)
    [prompt] = provider.prompts
    question = prompt.messages[-1].text.split("<question>\n", 1)[1].split("\n</question>", 1)[0]
    assert question == unicodedata.normalize("NFKC", CAFE)
    [record] = AuditLog(teams.db).records()
    assert (record.tenant, record.channel) == ("yokosuka", CHANNEL)

    activity = reply.activity
    assert activity["replyToId"] == ROOT_ID
    assert activity["conversation"]["id"] == THREAD
    assert activity["text"].startswith("行政財産である庁舎は、原則として「これを貸し付け")
    entity = message_entity(reply)
    assert entity["additionalType"] == ["AIGeneratedContent"]
    [claim] = assert_citations(entity, activity["text"])
    assert claim["appearance"]["name"] == "地方自治法 第二百三十八条の四"
    assert claim["appearance"]["url"] == "https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4"
    assert activity["channelData"]["feedbackLoopEnabled"] is True
    stored = adapter.conversations.get(CHANNEL)
    assert stored is not None and stored.conversation_type == "channel" and stored.team_id == TEAM
    assert adapter.conversations.audit_id_for(CHANNEL, reply.id) == record.id


async def test_a_message_delivered_again_to_another_replica_is_answered_once(
    teams: Teams, kb_searcher: Searcher, caplog: pytest.LogCaptureFixture
) -> None:
    # Two replicas on one state database behind a load balancer; the channel sends the activity
    # again (its first delivery's response did not get through), once to each.
    first = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    second = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    body = teams.activity("channel_mention")
    with caplog.at_level(logging.INFO, logger="bot.flow.lifecycle"):
        for adapter in (first, second, first):
            status, _ = await teams.post(adapter, body)
            assert status == 202
        await teams.connector.wait_for(1)
        for adapter in (first, second):
            await adapter.drain()

    assert len(teams.connector.of_type("message")) == 1
    assert len(list(AuditLog(teams.db).records())) == 1
    again = [r for r in caplog.records if "delivered again" in r.getMessage()]
    assert len(again) == 2 and all(ROOT_ID in r.getMessage() for r in again)


async def test_group_chat_extractive_answer_has_citations_but_no_ai_label(
    teams: Teams, kb_searcher: Searcher
) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    status, _ = await teams.post(adapter, teams.activity("group_chat"))
    assert status == 202
    [reply] = await teams.connector.wait_for(1)

    assert (reply.conversation_id, reply.reply_to_id) == (GROUP_CHAT, "1748830449987")
    text = reply.activity["text"]
    assert text.startswith("AIによる要約ではなく、検索結果です。")
    entity = message_entity(reply)
    assert "additionalType" not in entity  # nobody generated this text: no AI label
    claims = assert_citations(entity, text)
    assert "地方自治法 第二百三十八条の二" in [c["appearance"]["name"] for c in claims]
    [record] = AuditLog(teams.db).records()
    assert record.tenant == "yokosuka"  # resolved through the Entra tenant entry


async def test_feedback_invoke_is_stored_against_the_answers_audit_record(
    teams: Teams, kb_searcher: Searcher
) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    await teams.post(adapter, teams.activity("channel_mention"))
    [reply] = await teams.connector.wait_for(1)
    await adapter.drain()
    [record] = AuditLog(teams.db).records()
    # The extractive answer quotes 第二百三十八条の四: its card abstract is the quote, clipped to 160.
    first = message_entity(reply)["citation"][0]["appearance"]
    assert first["name"] == "地方自治法 第二百三十八条の四"
    assert 0 < len(first["abstract"]) <= render.ABSTRACT_MAX
    assert first["abstract"].startswith("「行政財産")

    status, body = await teams.post(adapter, teams.activity("feedback_invoke", replyToId=reply.id))

    assert status == 200 and body == {}
    [vote] = FeedbackStore(teams.db).for_answer(record.id)
    assert vote.value == "not_helpful"
    assert vote.comment == "第二百三十八条の四第二項も示してほしい"
    assert vote.user_hash == AuditLog(teams.db).hash_user("5c8e2a61-7b3f-4d90-a1e4-2f6b9c0d8e73")
    assert len(teams.connector.of_type("message")) == 1  # the vote posts nothing into the chat

    status, _ = await teams.post(adapter, teams.activity("feedback_invoke", replyToId="1748824260000"))
    assert status == 404  # a message kairan never posted


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"replyToId": None}, "no replyToId"),  # as the Agents Playground sends it
        ({"value": {"actionName": "feedback", "actionValue": {"reaction": "meh"}}}, "not like/dislike"),
    ],
)
async def test_a_feedback_invoke_kairan_cannot_read_is_answered_400_not_501(
    teams: Teams, kb_searcher: Searcher, caplog: pytest.LogCaptureFixture, change: dict[str, Any], why: str
) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    body = teams.activity("feedback_invoke")
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    with caplog.at_level(logging.WARNING):
        status, answer = await teams.post(adapter, body)

    assert status == 400, why  # the SDK's 501 would say "not implemented"; the request is what is wrong
    assert answer == {}
    assert teams.connector.posted == []  # no apology or exception text in the chat either
    assert "feedback" in caplog.text and "Teams turn failed" not in caplog.text


# --- personal chat: streaming ----------------------------------------------------------------


async def test_personal_chat_is_streamed_informative_update_chunks_final(
    teams: Teams, kb_searcher: Searcher
) -> None:
    provider = ScriptedProvider(LLM_TEXT, latency=1.0, pieces=4)
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db, provider), stream_interval=0.2)
    status, _ = await teams.post(adapter, teams.activity("personal_message", text=CAFE))
    assert status == 202
    [final] = await teams.connector.wait_for(1)
    await adapter.drain()

    posted = teams.connector.posted
    assert posted[0].type == "typing" and posted[0].stream_info() is None  # the typing indicator
    informative = posted[1]
    info = informative.stream_info()
    assert informative.activity["text"] == "調べています…"
    assert info == {"type": "streaminfo", "streamType": "informative", "streamSequence": 1}
    stream_id = informative.id
    chunks = [p for p in posted[2:] if p.type == "typing"]
    assert len(chunks) >= 2
    sequences = [c.stream_info()["streamSequence"] for c in chunks]  # type: ignore[index]
    assert sequences == list(range(2, 2 + len(chunks)))
    texts = [c.activity["text"] for c in chunks]
    for earlier, later in itertools.pairwise(texts):
        assert later.startswith(earlier) and len(later) > len(earlier)  # cumulative
    assert all(c.stream_info()["streamId"] == stream_id for c in chunks)  # type: ignore[index]
    assert posted[-1] is final
    assert final.stream_info() == {"type": "streaminfo", "streamId": stream_id, "streamType": "final"}
    assert final.activity["text"].startswith("行政財産である庁舎は")
    assert final.activity["text"].endswith("ご確認ください。")  # the verified answer, note included
    assert message_entity(final)["additionalType"] == ["AIGeneratedContent"]
    assert_citations(message_entity(final), final.activity["text"])
    for p in posted:
        assert p.reply_to_id == PERSONAL_ID
    [record] = AuditLog(teams.db).records()
    personal = render.base_conversation_id(teams.activity("personal_message")["conversation"]["id"])
    assert adapter.conversations.audit_id_for(personal, stream_id) == record.id


# --- failures ------------------------------------------------------------------------------


async def test_engine_failure_posts_a_short_apology_in_the_thread_never_the_exception(
    teams: Teams, caplog: pytest.LogCaptureFixture
) -> None:
    engine = FailingEngine(RuntimeError("state database is locked: /srv/kairan/state.db SECRET-DETAIL"))
    adapter = await teams.start_adapter(engine)
    with caplog.at_level(logging.ERROR, logger="bot.flow.lifecycle"):
        await teams.post(adapter, teams.activity("channel_mention"))
        [reply] = await teams.connector.wait_for(1)
        await adapter.drain()

    assert reply.activity["text"] == wording.APOLOGY
    assert (reply.conversation_id, reply.reply_to_id) == (THREAD, ROOT_ID)
    for posted in teams.connector.posted:
        assert "SECRET-DETAIL" not in str(posted.activity) and "Exception" not in str(posted.activity)
    assert "SECRET-DETAIL" in caplog.text  # logged for the operator, with the traceback
    assert "Traceback" in caplog.text or any(r.exc_info for r in caplog.records)
    assert len(engine.questions) == 1


async def test_failure_while_streaming_ends_the_stream_with_the_apology(teams: Teams) -> None:
    engine = FailingEngine(RuntimeError("upstream 500 SECRET-DETAIL"), deltas=("行政財産は",))
    adapter = await teams.start_adapter(engine, stream_interval=0.0)
    await teams.post(adapter, teams.activity("personal_message"))
    [final] = await teams.connector.wait_for(1)
    await adapter.drain()

    informative = teams.connector.posted[1]
    assert final.activity["text"] == wording.APOLOGY
    assert final.stream_info() == {"type": "streaminfo", "streamId": informative.id, "streamType": "final"}
    assert all("SECRET-DETAIL" not in str(p.activity) for p in teams.connector.posted)


async def test_a_conversation_no_tenant_owns_is_told_so_and_not_answered(
    teams: Teams, kb_searcher: Searcher
) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    body = teams.activity("group_chat")
    body["conversation"]["tenantId"] = "0f0e0d0c-0b0a-4909-8807-060504030201"
    body["channelData"]["tenant"]["id"] = "0f0e0d0c-0b0a-4909-8807-060504030201"
    await teams.post(adapter, body)
    [reply] = await teams.connector.wait_for(1)
    await adapter.drain()

    assert reply.activity["text"] == wording.NOT_CONFIGURED
    assert list(AuditLog(teams.db).records()) == []  # the engine was not asked


# --- installation, membership, proactive -------------------------------------------------------


async def test_references_are_stored_on_install_and_dropped_on_removal(
    teams: Teams, kb_searcher: Searcher
) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    status, _ = await teams.post(adapter, teams.activity("members_added"))
    assert status == 202
    status, _ = await teams.post(adapter, teams.activity("installation_update"))
    assert status == 202

    team = adapter.conversations.get(TEAM)
    chat = adapter.conversations.get(GROUP_CHAT)
    assert team is not None and team.installed and team.conversation_type == "channel"
    assert team.aad_tenant_id == AAD_TENANT
    assert team.reference["conversation"]["id"] == TEAM
    assert team.reference["serviceUrl"] == teams.connector.service_url
    assert team.reference["bot"]["id"] == f"28:{APP_ID}"
    assert chat is not None and chat.conversation_type == "groupChat"

    await teams.post(adapter, teams.activity("installation_update", action="remove"))
    removed = adapter.conversations.get(GROUP_CHAT)
    assert removed is not None and not removed.installed
    assert [c.conversation_id for c in adapter.conversations.all()] == [TEAM]
    assert teams.connector.posted == []  # installs and removals post nothing


async def test_proactive_digest_to_a_stored_reference_after_a_restart(
    teams: Teams, kb_searcher: Searcher
) -> None:
    first = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    await teams.post(first, teams.activity("members_added"))
    await first.stop()

    second = await teams.start_adapter(real_engine(kb_searcher, teams.db))  # same database, new process
    await second.send(ConversationRef(platform="teams", tenant="yokosuka", channel=TEAM), SOUMU_DIGEST)

    [post] = teams.connector.posted
    assert (post.conversation_id, post.reply_to_id) == (TEAM, None)  # a new post in the channel
    assert post.authorization == f"Bearer {OUTBOUND_TOKEN}"
    assert "地方自治法施行令の一部を改正する政令の施行について（通知）" in post.activity["text"]
    [claim] = message_entity(post)["citation"]
    assert claim["appearance"]["url"] == "https://www.soumu.go.jp/main_content/000000001.pdf"
    assert "additionalType" not in message_entity(post)


async def test_proactive_answer_into_a_channel_thread_links_feedback(
    teams: Teams, kb_searcher: Searcher
) -> None:
    engine = real_engine(kb_searcher, teams.db)
    adapter = await teams.start_adapter(engine)
    await teams.post(adapter, teams.activity("members_added"))
    ref = ConversationRef(platform="teams", tenant="yokosuka", channel=TEAM, thread="1748900000000")
    answer = await engine.answer(
        render.incoming_message(teams.activity("channel_mention"), tenant="yokosuka")
    )
    assert isinstance(answer, Answer) and answer.audit_id

    await adapter.send(ref, answer)

    [post] = teams.connector.posted
    assert post.conversation_id == f"{TEAM};messageid=1748900000000"
    assert adapter.conversations.audit_id_for(TEAM, post.id) == answer.audit_id


async def test_a_digest_or_answer_with_more_than_ten_sources_is_taken_whole(
    teams: Teams, kb_searcher: Searcher
) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    await teams.post(adapter, teams.activity("members_added"))
    ref = ConversationRef(platform="teams", tenant="yokosuka", channel=TEAM)
    [item] = SOUMU_DIGEST.items
    twelve = range(1, 13)
    items = tuple(replace(item, title=f"{item.title}（その{n}）", url=f"{item.url}?n={n}") for n in twelve)
    law = "https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_"
    cited = tuple(
        Citation(n, "322AC0000000067", f"{230 + n}", f"地方自治法 第{230 + n}条", f"{law}{230 + n}", "", True)
        for n in twelve
    )
    answer = Answer(text="".join(f"規定{n}[{n}]。" for n in twelve), citations=cited, abstained=False)

    await adapter.send(ref, Digest(subscription="soumu-daily", items=items))
    await adapter.send(ref, answer)

    assert teams.connector.invalid == []  # the Playground's rule: at most 10 citations
    digest, posted = teams.connector.of_type("message")
    for activity, links in ((digest.activity, f"{item.url}?n="), (posted.activity, law)):
        assert len(message_entity_of(activity)["citation"]) == render.MAX_CITATIONS
        for more in ("11", "12") if activity is digest.activity else ("241", "242"):
            assert f"{links}{more}" in activity["text"]  # the sources past the 10th, with their links


async def test_proactive_send_without_a_reference_is_an_error(teams: Teams, kb_searcher: Searcher) -> None:
    from adapters.teams.adapter import TeamsDeliveryError

    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    digest = Digest(subscription="soumu-daily", items=())
    with pytest.raises(TeamsDeliveryError, match="no Teams conversation reference stored"):
        await adapter.send(ConversationRef(platform="teams", tenant="yokosuka", channel=CHANNEL), digest)
    await teams.post(adapter, teams.activity("members_added"))
    teams.connector.fail_status = 503
    with pytest.raises(TeamsDeliveryError, match="failed"):
        await adapter.send(ConversationRef(platform="teams", tenant="yokosuka", channel=TEAM), digest)


async def test_sdk_turn_errors_get_the_apology_not_the_sdk_default_exception_text(
    teams: Teams, kb_searcher: Searcher, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    body = teams.activity("channel_mention")
    body["from"] = {"name": "山田 花子"}  # no id: the SDK's turn raises before any route runs
    with caplog.at_level(logging.ERROR):
        status, _ = await teams.post(adapter, body)

    assert status == 202
    [reply] = teams.connector.posted
    assert reply.activity["text"] == wording.APOLOGY  # replaces "Exception caught : …"
    assert (reply.conversation_id, reply.reply_to_id) == (THREAD, ROOT_ID)
    assert "Invalid Activity: missing from_property.id" in caplog.text
    assert "Teams turn failed" in caplog.text  # our handler logged it, with the traceback
    assert adapter.in_flight == 0 and list(AuditLog(teams.db).records()) == []
    assert [p for p in teams.connector.posted if p.type == "trace"] == []
