"""The 照会 loop on Slack, end to end through the real Bolt app and the mock Web API: a question the
laws cannot answer → abstention with draft → 「照会する」 → the modal → the 照会 in the destination channel →
a responder's reply in its thread → the asker told → someone else's same question answered from the
captured answer, cited, in under a second → the answer edited, then deleted."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.slack.app import SlackAdapter
from adapters.slack.inquiry import DRAFT_BLOCK, INQUIRY_EVENT_TYPE, INQUIRY_SEND
from adapters.slack.render import INQUIRY_OPEN, escape
from bot import wording
from kairan.wiring import Runtime
from tests.adapters.slack.conftest import (
    BOT_TOKEN,
    GYOSEI_TETSUZUKI_XML,
    SIGNING_SECRET,
    SOUMU_CHANNEL,
    load_fixture,
)
from tests.fakes.inquiry import (
    SCENARIO_ANSWER,
    SCENARIO_CORRECTION,
    SCENARIO_PARAPHRASE,
    SCENARIO_QUESTION,
    scenario_runtime,
)
from tests.fakes.knowledge_base import law_kb
from tests.fakes.slack_api import FakeSlack, SlackCall

HOUMU = "C0HOUMU001"
RESPONDER = "U0HOUMU001"
ASKER = "U0STAFF001"
OTHER = "U0STAFF002"


@pytest.fixture(scope="module")
def base_kb(tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path) -> Path:
    return law_kb(tmp_path_factory.mktemp("slack-inquiry-kb"), shared_corpus / GYOSEI_TETSUZUKI_XML)


@pytest.fixture
def runtime(tmp_path: Path, base_kb: Path) -> Iterator[Runtime]:
    built = scenario_runtime(base_kb, tmp_path / "data", {"slack": {"mode": "http"}},
                             asked_in=("slack", SOUMU_CHANNEL), destination=("slack", HOUMU),
                             responders=[RESPONDER])
    yield built
    built.db.close()


@pytest.fixture
async def running(runtime: Runtime, slack: FakeSlack, serve: Any) -> AsyncIterator[Any]:
    adapter = SlackAdapter(
        lifecycle=runtime.lifecycle, feedback=runtime.feedback, audit=runtime.audit,
        manifest=runtime.manifest, bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, mode="http",
        api_url=slack.api_url,
    )
    yield await serve(adapter)


def mention(text: str, *, user: str, ts: str, event_id: str, channel: str = SOUMU_CHANNEL,
            thread: str | None = None) -> dict[str, Any]:
    payload = load_fixture("payload_app_mention.json")
    payload["event_id"] = event_id
    event = payload["event"]
    event.update(user=user, text=f"<@U0KAIRANBOT> {text}", ts=ts, event_ts=ts, channel=channel)
    if thread:
        event["thread_ts"] = thread
    return payload


def filled(name: str, **values: str) -> dict[str, Any]:
    text = json.dumps(load_fixture(name), ensure_ascii=False)
    for key, value in values.items():
        text = text.replace(f"__{key}__", value)
    return json.loads(text)


def posts_in(slack: FakeSlack, channel: str, thread: str | None = None) -> list[SlackCall]:
    return [c for c in slack.calls_to("chat.postMessage")
            if c.params.get("channel") == channel and (thread is None or c.params.get("thread_ts") == thread)]


def all_text(call: SlackCall) -> str:
    return json.dumps(call.params.get("blocks") or [], ensure_ascii=False) + call.params.get("text", "")


async def wait_posts(
    slack: FakeSlack, channel: str, count: int, thread: str | None = None
) -> list[SlackCall]:
    """The posts in ``channel`` (a thread of it) once there are ``count``."""
    while len(posts_in(slack, channel, thread)) < count:
        posted = len(slack.calls_to("chat.postMessage"))
        await slack.wait_for("chat.postMessage", count=posted + 1, timeout=20)
    return posts_in(slack, channel, thread)


async def test_the_inquiry_loop_on_slack(running: Any, runtime: Runtime, slack: FakeSlack) -> None:
    asked_ts = "1715000000.000100"
    await running.event(mention(SCENARIO_QUESTION, user=ASKER, ts=asked_ts, event_id="Ev0ASK0001"))
    abstention, draft = await wait_posts(slack, SOUMU_CHANNEL, 2)
    assert "根拠となる規定が見つからなかった" in all_text(abstention)
    [button] = [e for b in draft.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["action_id"] == INQUIRY_OPEN and button["text"]["text"] == "照会する"
    offer = button["value"]

    # Someone else's click is refused; the asker's opens the draft to check and edit.
    click = load_fixture("payload_block_actions.json")
    click["actions"] = [{**click["actions"][0], "action_id": INQUIRY_OPEN, "block_id": "kairan_inquiry",
                         "value": offer}]
    click["message"]["thread_ts"] = click["container"]["thread_ts"] = asked_ts
    await running.interaction({**click, "user": {"id": OTHER}})
    [refused] = await slack.wait_for("chat.postEphemeral")
    assert refused.params["text"] == wording.INQUIRY_NOT_ASKER
    status, _, _ = await running.interaction(click)
    assert status == 200
    [opened] = await slack.wait_for("views.open")
    view = opened.params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == INQUIRY_SEND
    prefilled = view["blocks"][1]["element"]["initial_value"]
    assert SCENARIO_QUESTION in prefilled and "［照会先］" in prefilled

    edited = prefilled.replace("［具体的な事実関係（対象者、期間、経緯など）を記載してください］",
                               "婚姻により改姓した職員から、名札を旧姓のままにしたいとの申出がありました。")
    submission = filled("payload_view_submission_inquiry.json", METADATA=view["private_metadata"].replace(
        '"', '\\"'), TEXT=edited.replace("\n", "\\n"))
    status, _, body = await running.interaction(submission)
    assert status == 200 and body in ("", "null")  # the modal closes
    [posted] = await wait_posts(slack, HOUMU, 1)
    assert posted.params.get("thread_ts") is None
    assert posted.params["metadata"]["event_type"] == INQUIRY_EVENT_TYPE
    text = all_text(posted)
    assert "【照会#1】テスト市から法務担当への照会" in text and "婚姻により改姓した職員" in text
    assert f"https://kairan-test.slack.com/archives/{SOUMU_CHANNEL}/p{asked_ts.replace('.', '')}" in text
    root = next(m["ts"] for m in slack.channel_messages(HOUMU) if "thread_ts" not in m)
    sent = await wait_posts(slack, SOUMU_CHANNEL, 3)
    assert sent[-1].params["thread_ts"] == asked_ts
    assert sent[-1].params["text"] == wording.INQUIRY_SENT.format(number="照会#1", destination="法務担当")
    # The same submission again (a double click) sends nothing more.
    status, _, body = await running.interaction(submission)
    already = wording.INQUIRY_ALREADY_SENT.format(number="照会#1")
    assert json.loads(body) == {"response_action": "errors", "errors": {DRAFT_BLOCK: already}}

    # The responder answers in the thread; the message and the mention of it are one answer.
    await running.event(filled("payload_inquiry_reply.json", THREAD=root))
    await running.event(mention(SCENARIO_ANSWER, user=RESPONDER, ts="1715001000.000300",
                                event_id="Ev0HOUMUMENTION", channel=HOUMU, thread=root))
    told = await wait_posts(slack, SOUMU_CHANNEL, 4)
    answered = all_text(told[-1])
    assert "照会#1に法務担当から回答がありました。" in answered
    assert "旧姓を使用して差し支えありません" in answered
    answer_link = f"https://kairan-test.slack.com/archives/{HOUMU}/p1715001000000300?thread_ts={root}&cid={HOUMU}"
    assert f"<{answer_link}|照会回答 " in answered and " 法務担当 照会1>" in answered
    [receipt] = await wait_posts(slack, HOUMU, 1, thread=root)
    assert receipt.params["text"] == wording.INQUIRY_RECEIPT.format(number="照会#1", revision=1)
    assert len(posts_in(slack, HOUMU)) == 2  # the 照会 and the receipt: the mention was not a question

    # Someone else asks the same question: answered from the captured answer, cited, at once.
    before = len(posts_in(slack, SOUMU_CHANNEL))
    started = time.perf_counter()
    await running.event(mention(SCENARIO_QUESTION, user=OTHER, ts="1715003000.000100", event_id="Ev0ASK0002"))
    reply = (await wait_posts(slack, SOUMU_CHANNEL, before + 1))[-1]
    assert reply.time - started < 1.0
    text = all_text(reply)
    assert "根拠となる規定が見つからなかった" not in text and "旧姓を使用して差し支えありません" in text
    assert "■ 照会回答 " in text and " 法務担当 照会1（職員の名札に旧姓を使ってよいですか）[1]" in text
    assert f"[1] <{answer_link}|照会回答 " in text and escape(wording.INTERNAL_ANSWER_NOTE) in text
    paraphrased = mention(SCENARIO_PARAPHRASE, user=OTHER, ts="1715003100.000100", event_id="Ev0ASK0003")
    await running.event(paraphrased)
    assert " 法務担当 照会1>" in all_text((await wait_posts(slack, SOUMU_CHANNEL, before + 2))[-1])

    # The responder edits the answer: superseded; deletes it: withdrawn, and the question abstains again.
    await running.event(filled("payload_inquiry_reply_edited.json", THREAD=root))
    corrected = (await wait_posts(slack, SOUMU_CHANNEL, before + 3))[-1]
    assert "照会#1の回答が訂正されました。" in all_text(corrected)
    assert SCENARIO_CORRECTION in all_text(corrected)
    await running.event(filled("payload_inquiry_reply_deleted.json", THREAD=root))
    withdrawn = (await wait_posts(slack, SOUMU_CHANNEL, before + 4))[-1]
    assert withdrawn.params["text"] == wording.INQUIRY_WITHDRAWN.format(number="照会#1")
    await running.event(mention(SCENARIO_QUESTION, user=OTHER, ts="1715004000.000100", event_id="Ev0ASK0004"))
    again = (await wait_posts(slack, SOUMU_CHANNEL, before + 6))[-2]
    assert "根拠となる規定が見つからなかった" in all_text(again)
    assert runtime.inquiries is not None
    [inquiry] = runtime.inquiries.store.listing()
    assert (inquiry.state, inquiry.revision) == ("withdrawn", 2)
