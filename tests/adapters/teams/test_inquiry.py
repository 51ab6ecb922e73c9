"""The 照会 loop on Teams, end to end through the real Agents SDK and the mock Bot Connector: a question
地方自治法 cannot answer → abstention with draft and the card → 「照会する」 with the edited draft → the 照会
posted in the 法務担当 channel → a responder's reply in its thread → the asker told → someone else's
same question answered from the captured answer, cited, in under a second → edited → deleted."""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.teams.adapter import TeamsAdapter
from adapters.teams.factory import build_teams_adapter, teams_auth_configuration
from adapters.teams.inquiry_cards import CARD, OFFER_KEY, TEXT_INPUT
from bot import wording
from kairan.wiring import Runtime
from tests.adapters.teams.conftest import CHANNEL, ENV, JICHIHO, Teams, payload
from tests.fakes.inquiry import (
    SCENARIO_ANSWER,
    SCENARIO_CORRECTION,
    SCENARIO_QUESTION,
    scenario_runtime,
)
from tests.fakes.knowledge_base import law_kb
from tests.fakes.teams_auth import fake_connections
from tests.fakes.teams_connector import Posted

HOUMU = "19:5d7f9b1c3e5a7c9e1b3d5f7a9c1e3b5d@thread.tacv2"  # the 法務担当 channel
RESPONDER = "7a9c1e3b-5d7f-4b1c-8e5a-9c1e3b5d7f9a"  # the responder's Entra object id
OTHER = "3e5a7c9e-1b3d-4f7a-9c1e-5b7d9f1a3c5e"
FACTS = "婚姻により改姓した職員からの申出です。"


@pytest.fixture(scope="module")
def base_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return law_kb(tmp_path_factory.mktemp("teams-inquiry-kb"), JICHIHO)


@pytest.fixture
def runtime(tmp_path: Path, base_kb: Path) -> Iterator[Runtime]:
    teams = {"app_id_env": "TEAMS_APP_ID", "app_password_env": "TEAMS_APP_PASSWORD",
             "service_url_hosts": ["127.0.0.1"]}
    built = scenario_runtime(base_kb, tmp_path / "data", {"teams": teams}, asked_in=("teams", CHANNEL),
                             destination=("teams", HOUMU), responders=[RESPONDER], environ=ENV)
    yield built
    built.db.close()


@pytest.fixture
async def adapter(teams: Teams, runtime: Runtime) -> AsyncIterator[TeamsAdapter]:
    connections = fake_connections(teams_auth_configuration(runtime.manifest, ENV))
    built = build_teams_adapter(runtime, connections=connections)
    assert built is not None
    yield await teams.serve(built)


def message(teams: Teams, text: str, *, conversation: str, root: str, activity_id: str, user: str,
            name: str) -> dict[str, Any]:
    body = teams.activity("channel_mention")
    body.update(id=activity_id, text=f"<at>kairan</at> {text}\n")
    body["conversation"]["id"] = f"{conversation};messageid={root}"
    body["from"] = {"id": f"29:{user[:8]}", "name": name, "aadObjectId": user}
    body["channelData"]["channel"] = {"id": conversation}
    body["channelData"]["teamsChannelId"] = conversation
    body.pop("attachments", None)
    return body


def to(connector_posts: list[Posted], conversation: str) -> list[Posted]:
    return [p for p in connector_posts if p.type == "message" and p.conversation_id.startswith(conversation)]


async def messages_in(teams: Teams, conversation: str, count: int) -> list[Posted]:
    """The messages posted to ``conversation`` (its threads included) once there are ``count``."""
    while len(to(teams.connector.posted, conversation)) < count:
        await teams.connector.wait_for(len(teams.connector.of_type("message")) + 1, timeout=20)
    return to(teams.connector.posted, conversation)


async def test_the_inquiry_loop_on_teams(teams: Teams, adapter: TeamsAdapter, runtime: Runtime) -> None:
    # The bot is installed in the 法務担当 channel (so it can post there).
    installed = teams.activity("members_added")
    installed["conversation"]["id"] = HOUMU
    assert (await teams.post(adapter, installed))[0] in (200, 202)

    root = "1748830000001"
    asked = message(teams, SCENARIO_QUESTION, conversation=CHANNEL, root=root, activity_id=root,
                    user="5c8e2a61-7b3f-4d90-a1e4-2f6b9c0d8e73", name="山田 花子")
    await teams.post(adapter, asked)
    abstention, offered = await messages_in(teams, CHANNEL, 2)
    await adapter.drain()
    assert abstention.activity["text"].startswith("根拠となる資料が見つかりませんでした。")
    [card] = offered.activity["attachments"]
    assert card["contentType"] == CARD
    [action] = card["content"]["actions"]
    assert action["title"] == "照会する"
    draft = next(b for b in card["content"]["body"] if b.get("id") == TEXT_INPUT)["value"]
    assert SCENARIO_QUESTION in draft

    # The asker presses 「照会する」 with the draft edited; someone else's press is refused in the chat.
    edited = draft.replace("［具体的な事実関係（対象者、期間、経緯など）を記載してください］", FACTS)

    def press(user: str, activity_id: str) -> dict[str, Any]:
        body = message(teams, "", conversation=CHANNEL, root=root, activity_id=activity_id, user=user,
                       name="誰か")
        body.update(text="", value={**action["data"], TEXT_INPUT: edited}, replyToId=offered.id)
        body.pop("entities", None)
        return body

    await teams.post(adapter, press(OTHER, "1748830000002"))
    refused = (await messages_in(teams, CHANNEL, 3))[-1]
    assert refused.activity["text"] == wording.INQUIRY_NOT_ASKER
    await teams.post(adapter, press("5c8e2a61-7b3f-4d90-a1e4-2f6b9c0d8e73", "1748830000003"))
    [posted] = await messages_in(teams, HOUMU, 1)
    assert posted.conversation_id == HOUMU and posted.reply_to_id is None  # a new post: its own thread
    text = posted.activity["text"]
    assert "**【照会#1】テスト市から法務担当への照会**" in text and FACTS in text
    assert f"https://teams.microsoft.com/l/message/{CHANNEL}/{root}" in text
    sent = (await messages_in(teams, CHANNEL, 4))[-1]
    assert sent.conversation_id == f"{CHANNEL};messageid={root}"
    assert sent.activity["text"] == wording.INQUIRY_SENT.format(number="照会#1", destination="法務担当")
    await teams.post(adapter, press("5c8e2a61-7b3f-4d90-a1e4-2f6b9c0d8e73", "1748830000004"))  # again
    again = (await messages_in(teams, CHANNEL, 5))[-1]
    assert again.activity["text"] == wording.INQUIRY_ALREADY_SENT.format(number="照会#1")
    assert len(to(teams.connector.posted, HOUMU)) == 1

    # The responder answers in the 照会's thread, mentioning the bot.
    thread = posted.id
    reply_id = "1748830000100"
    await teams.post(adapter, message(teams, SCENARIO_ANSWER, conversation=HOUMU, root=thread,
                                      activity_id=reply_id, user=RESPONDER, name="法務 一郎"))
    told = (await messages_in(teams, CHANNEL, 6))[-1]
    assert told.conversation_id == f"{CHANNEL};messageid={root}"
    assert told.activity["text"].startswith("照会#1に法務担当から回答がありました。")
    assert "旧姓を使用して差し支えありません" in told.activity["text"]
    [entity] = [e for e in told.activity["entities"] if e.get("type") == "https://schema.org/Message"]
    [claim] = entity["citation"]
    answer_link = f"https://teams.microsoft.com/l/message/{HOUMU}/{reply_id}?parentMessageId={thread}"
    assert claim["appearance"]["url"] == answer_link
    assert claim["appearance"]["name"].startswith("照会回答 ") and "法務担当" in claim["appearance"]["name"]
    receipt = (await messages_in(teams, HOUMU, 2))[-1]
    assert receipt.conversation_id == f"{HOUMU};messageid={thread}"
    assert receipt.activity["text"] == wording.INQUIRY_RECEIPT.format(number="照会#1", revision=1)

    # Someone else asks the same question: answered from the captured answer, cited, at once.
    second_root = "1748830000200"
    before = len(to(teams.connector.posted, CHANNEL))
    started = time.monotonic()
    await teams.post(adapter, message(teams, SCENARIO_QUESTION, conversation=CHANNEL, root=second_root,
                                      activity_id=second_root, user=OTHER, name="佐藤 一郎"))
    answer = (await messages_in(teams, CHANNEL, before + 1))[before]
    assert time.monotonic() - started < 1.0
    assert answer.conversation_id == f"{CHANNEL};messageid={second_root}"
    assert "旧姓を使用して差し支えありません" in answer.activity["text"]
    [entity] = [e for e in answer.activity["entities"] if e.get("type") == "https://schema.org/Message"]
    first = entity["citation"][0]["appearance"]
    assert first["name"].startswith("照会回答 ") and first["url"] == answer_link
    assert wording.INTERNAL_ANSWER_NOTE in answer.activity["text"]
    await adapter.drain()

    # Edited: superseded; deleted: withdrawn.
    edited = message(teams, SCENARIO_CORRECTION, conversation=HOUMU, root=thread, activity_id=reply_id,
                     user=RESPONDER, name="法務 一郎")
    edited.update(type="messageUpdate")
    edited["channelData"]["eventType"] = "editMessage"
    count = len(to(teams.connector.posted, CHANNEL))
    await teams.post(adapter, edited)
    corrected = (await messages_in(teams, CHANNEL, count + 1))[-1]
    assert corrected.activity["text"].startswith("照会#1の回答が訂正されました。")
    assert SCENARIO_CORRECTION in corrected.activity["text"]
    deleted = copy.deepcopy(edited)
    deleted.update(type="messageDelete", text="")
    deleted["channelData"]["eventType"] = "softDeleteMessage"
    await teams.post(adapter, deleted)
    withdrawn = (await messages_in(teams, CHANNEL, count + 2))[-1]
    assert withdrawn.activity["text"] == wording.INQUIRY_WITHDRAWN.format(number="照会#1")
    assert runtime.inquiries is not None
    await runtime.inquiries.drain()
    [inquiry] = runtime.inquiries.store.listing()
    assert (inquiry.state, inquiry.revision, inquiry.knowledge_rev) == ("withdrawn", 2, 0)
    assert payload("channel_mention")["conversation"]["id"].startswith(CHANNEL)
    assert OFFER_KEY in action["data"]
