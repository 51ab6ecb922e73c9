"""HTTP Events API mode: the real Bolt app behind aiohttp, signed fixtures, the mock Slack Web API."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from adapters.slack.app import METHOD_SCOPES, PROGRESS_REACTION, SlackConfigError
from adapters.slack.render import (
    ABSTAINED_LEAD,
    FEEDBACK_HELPFUL,
    FEEDBACK_NOT_HELPFUL,
    INQUIRY_LEAD,
    SECTION_LIMIT,
)
from bot import wording
from bot.digest.compose import digest_marker
from bot.engine import AnswerEngine, EngineSettings
from bot.models import Answer, Citation, ConversationRef, Digest, DigestItem, IncomingMessage
from bot.state.audit import AuditLog
from bot.state.db import Database
from bot.state.events import EventLedger
from bot.state.feedback import FeedbackStore
from bot.state.threads import ThreadStore
from knowledge.search import Searcher
from manifest.schema import Manifest
from tests.adapters.slack.conftest import SOUMU_CHANNEL, TENANT, load_fixture
from tests.fakes.engines import FailingEngine, FixedAnswerEngine, ScriptedProvider
from tests.fakes.slack_api import FakeSlack, SlackCall

MENTION_TS = "1715000000.000100"
DAI5JO_LINK = "<https://laws.e-gov.go.jp/law/405AC0000000088#Mp-At_5|行政手続法 第五条>"
CITATION = Citation(1, "405AC0000000088", "5", "行政手続法 第五条",
                    "https://laws.e-gov.go.jp/law/405AC0000000088#Mp-At_5", "", True)


def texts(call: SlackCall) -> list[str]:
    """Every mrkdwn/plain text of a posted message's blocks, in order."""
    found: list[str] = []
    for block in call.params.get("blocks") or []:
        if "text" in block:
            found.append(block["text"]["text"])
        for element in block.get("elements", []):
            if "text" in element:
                found.append(element["text"] if isinstance(element["text"], str) else element["text"]["text"])
    return found


def streamed_text(call: SlackCall) -> str:
    """The markdown a chat.startStream / appendStream / stopStream call carried."""
    chunks = call.params.get("chunks") or []
    text = "".join(c["text"] for c in chunks if c.get("type") == "markdown_text")
    return call.params.get("markdown_text", "") + text


def feedback_buttons(call: SlackCall) -> list[dict[str, Any]]:
    actions = [b for b in call.params["blocks"] if b["type"] == "actions"]
    assert len(actions) == 1
    return actions[0]["elements"]


async def barrier(running: Any, slack: FakeSlack, posts_before: int) -> None:
    """Deliver a fresh DM and wait for its answer: everything sent earlier has been handled by then."""
    payload = load_fixture("payload_message_im.json")
    payload["event_id"] = f"Ev0BARRIER{posts_before:04d}"
    payload["event"]["ts"] = payload["event"]["event_ts"] = f"1716000000.{posts_before:06d}"
    status, _, _ = await running.event(payload)
    assert status == 200
    await slack.wait_for("chat.postMessage", count=posts_before + 1)


def channel_posts(slack: FakeSlack, channel: str = SOUMU_CHANNEL) -> list[SlackCall]:
    return [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == channel]


async def test_app_mention_is_answered_in_the_thread_with_cited_links(
    make_adapter: Any, serve: Any, slack: FakeSlack, audit: AuditLog
) -> None:
    running = await serve(make_adapter())
    status, elapsed, _ = await running.event(load_fixture("payload_app_mention.json"))
    assert status == 200
    assert elapsed < 1.0  # acked before answering
    [post] = await slack.wait_for("chat.postMessage")
    await slack.wait_for("reactions.remove")

    assert post.params["channel"] == SOUMU_CHANNEL
    assert post.params["thread_ts"] == MENTION_TS
    assert post.token == "xoxb-test-0000"
    body = texts(post)
    assert any("■ 行政手続法 第五条（審査基準）[1]" in t for t in body)
    sources = next(t for t in body if t.startswith("*出典*"))
    assert f"[1] {DAI5JO_LINK} ✅" in sources.splitlines()
    assert all(len(t) <= SECTION_LIMIT for t in body)
    assert post.params["text"].startswith("AIによる要約ではなく、検索結果です。")

    helpful, not_helpful = feedback_buttons(post)
    assert (helpful["action_id"], not_helpful["action_id"]) == (FEEDBACK_HELPFUL, FEEDBACK_NOT_HELPFUL)
    assert helpful["text"]["text"] == "役に立った" and not_helpful["text"]["text"] == "役に立たなかった"
    record = audit.get(helpful["value"])
    assert record is not None and helpful["value"] == not_helpful["value"]
    assert (record.tenant, record.channel) == (TENANT, SOUMU_CHANNEL)
    assert record.question == "行政手続法第五条の審査基準について教えて"  # the mention is stripped

    [added] = slack.calls_to("reactions.add")
    assert added.params == {"channel": SOUMU_CHANNEL, "timestamp": MENTION_TS, "name": PROGRESS_REACTION}
    methods = slack.methods()
    order = [methods.index(m) for m in ("reactions.add", "chat.postMessage", "reactions.remove")]
    assert order == sorted(order)
    assert set(methods) <= set(METHOD_SCOPES)


async def test_thread_follow_up_answers_in_the_root_thread_with_memory(
    make_adapter: Any, serve: Any, slack: FakeSlack, db: Database
) -> None:
    running = await serve(make_adapter())
    await running.event(load_fixture("payload_app_mention.json"))
    await slack.wait_for("chat.postMessage")
    status, _, _ = await running.event(load_fixture("payload_thread_followup.json"))
    assert status == 200
    first, second = await slack.wait_for("chat.postMessage", count=2)
    assert first.params["thread_ts"] == second.params["thread_ts"] == MENTION_TS
    assert any("第六条" in t for t in texts(second))  # 標準処理期間
    turns = ThreadStore(db).recent(f"slack:{TENANT}:{SOUMU_CHANNEL}:{MENTION_TS}", max_turns=10)
    assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[2].text == "標準処理期間はどう定めればよいですか"


async def test_direct_message_shows_status_and_answers_in_its_thread(
    make_adapter: Any, serve: Any, slack: FakeSlack, audit: AuditLog
) -> None:
    running = await serve(make_adapter())
    payload = load_fixture("payload_message_im.json")
    status, _, _ = await running.event(payload)
    assert status == 200
    [post] = await slack.wait_for("chat.postMessage")
    assert post.params["channel"] == "D0STAFF002"
    assert post.params["thread_ts"] == payload["event"]["ts"]
    statuses = await slack.wait_for("assistant.threads.setStatus", count=2)
    assert [s.params["status"] for s in statuses] == [wording.WORKING, ""]
    assert statuses[0].params["channel_id"] == "D0STAFF002"
    assert statuses[0].params["thread_ts"] == payload["event"]["ts"]
    assert statuses[0].time < post.time
    assert slack.calls_to("reactions.add") == []
    audit_id = feedback_buttons(post)[0]["value"]
    record = audit.get(audit_id)
    assert record is not None and record.tenant == TENANT  # the only tenant answers unmapped DMs
    assert any("第六条" in t for t in texts(post))


async def test_dm_outside_assistant_threads_falls_back_to_a_reaction(
    make_adapter: Any, serve: Any, slack: FakeSlack
) -> None:
    slack.fail_next("assistant.threads.setStatus", "not_allowed")
    running = await serve(make_adapter())
    await running.event(load_fixture("payload_message_im.json"))
    await slack.wait_for("chat.postMessage")
    [removed] = await slack.wait_for("reactions.remove")
    assert removed.params["timestamp"] == "1715000600.000300"
    assert slack.calls_to("assistant.threads.setStatus") == []  # the only call failed


async def test_bot_messages_and_edits_in_dms_are_ignored(
    make_adapter: Any, serve: Any, slack: FakeSlack
) -> None:
    running = await serve(make_adapter())
    status, _, _ = await running.event(load_fixture("payload_message_im_bot.json"))
    assert status == 200
    edit = load_fixture("payload_message_im.json")
    edit["event_id"] = "Ev0EDITED00001"
    edit["event"] |= {"subtype": "message_changed", "ts": "1715000650.000000"}
    assert (await running.event(edit))[0] == 200
    await barrier(running, slack, 0)
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert EventLedger(running.adapter.flow.ledger.db).claim("slack", "Ev0BOTMESSAGE1")  # never claimed


def bot_mentions() -> list[dict[str, Any]]:
    """An app_mention by another app's bot user, by a legacy bot (bot_message, no user) and by kairan."""
    modern = load_fixture("payload_app_mention_bot.json")
    legacy = copy.deepcopy(modern)
    legacy["event_id"] = "Ev0BOTMENTION2"
    del legacy["event"]["user"]
    legacy["event"] |= {"subtype": "bot_message", "username": "reminder-bot"}
    own = load_fixture("payload_app_mention.json")
    own["event_id"] = "Ev0BOTMENTION3"
    own["event"] |= {"user": "U0KAIRANBOT", "text": "<@U0KAIRANBOT> 自分の投稿"}
    return [modern, legacy, own]


async def test_a_bots_mention_is_never_answered(
    make_adapter: Any, serve: Any, slack: FakeSlack, db: Database
) -> None:
    """Issue 18: another bot's app_mention was answered; two bots that mention each other would loop."""
    running = await serve(make_adapter())
    for payload in bot_mentions():
        assert (await running.event(payload))[0] == 200
    await barrier(running, slack, 0)
    assert channel_posts(slack) == [] and slack.calls_to("reactions.add") == []
    for payload in bot_mentions():  # never claimed: ignored before the lifecycle sees them
        assert EventLedger(db).claim("slack", payload["event_id"])


async def test_a_dm_reported_as_app_mention_and_message_im_is_answered_once(
    make_adapter: Any, serve: Any, slack: FakeSlack
) -> None:
    running = await serve(make_adapter())
    dm = load_fixture("payload_message_im.json")
    mention = copy.deepcopy(dm)
    mention["event_id"] = "Ev0DMMENTION01"
    mention["event"] = {k: v for k, v in dm["event"].items() if k != "channel_type"} | {
        "type": "app_mention", "text": "<@U0KAIRANBOT> " + dm["event"]["text"]
    }
    results = await asyncio.gather(running.event(mention), running.event(dm))
    assert [r[0] for r in results] == [200, 200]
    await slack.wait_for("chat.postMessage")
    await barrier(running, slack, 1)
    assert [c.params["thread_ts"] for c in slack.calls_to("chat.postMessage")] == [
        "1715000600.000300", "1716000000.000001"
    ]


async def test_mention_without_a_question_gets_a_hint(
    make_adapter: Any, serve: Any, slack: FakeSlack
) -> None:
    running = await serve(make_adapter())
    payload = load_fixture("payload_app_mention.json")
    payload["event"]["text"] = "<@U0KAIRANBOT>  "
    await running.event(payload)
    [post] = await slack.wait_for("chat.postMessage")
    assert post.params["text"] == wording.EMPTY_QUESTION
    assert post.params["thread_ts"] == MENTION_TS


async def test_unmapped_channel_of_a_multi_tenant_manifest_is_not_answered(
    make_adapter: Any, serve: Any, slack: FakeSlack
) -> None:
    manifest = Manifest.model_validate({
        "platforms": {"slack": {"mode": "http"}},
        "tenants": [
            {"id": "a", "name": "A市", "channels": [{"platform": "slack", "id": "C0ACITY"}]},
            {"id": "b", "name": "B町", "channels": [{"platform": "slack", "id": "C0BTOWN"}]},
        ],
    })
    engine = FailingEngine(AssertionError("the engine must not be asked"))
    running = await serve(make_adapter(manifest=manifest, engine=engine))
    await running.event(load_fixture("payload_app_mention.json"))
    [post] = await slack.wait_for("chat.postMessage")
    assert post.params["text"] == wording.NOT_CONFIGURED
    assert engine.questions == []


async def test_an_unlisted_channel_searches_only_the_public_collections_of_the_only_tenant(
    make_adapter: Any, serve: Any, slack: FakeSlack
) -> None:
    """Issue 16, item 9: a channel not in the manifest (a Slack Connect channel shared with another
    organisation, say) was answered from the tenant's internal collection, while the channel the
    manifest lists was limited to laws."""
    manifest = Manifest.model_validate({
        "knowledge": {"collections": [{"name": "laws", "public": True}, {"name": "internal"}]},
        "platforms": {"slack": {"mode": "http"}},
        "tenants": [{"id": TENANT, "name": "テスト市", "collections": ["laws", "internal"],
                     "channels": [{"platform": "slack", "id": "C0LISTED", "collections": ["laws"]}]}],
    })
    engine = FixedAnswerEngine(Answer(text="回答です。", citations=(), abstained=False))
    running = await serve(make_adapter(manifest=manifest, engine=engine))
    await running.event(load_fixture("payload_app_mention.json"))  # in C0SOUMU001, listed nowhere
    await slack.wait_for("chat.postMessage")
    assert [q.ref.tenant for q in engine.questions] == [TENANT]
    assert engine.collections == [["laws"]]


@pytest.mark.parametrize("kind", ["bad", "stale", "missing"])
async def test_unverified_requests_get_401_and_no_answer(
    kind: str, make_adapter: Any, serve: Any, slack: FakeSlack, db: Database
) -> None:
    running = await serve(make_adapter())
    payload = load_fixture("payload_app_mention.json")
    if kind == "bad":
        status, _, _ = await running.event(payload, secret="not-the-signing-secret")
    elif kind == "stale":
        status, _, _ = await running.event(payload, timestamp=int(time.time()) - 6 * 60)
    else:
        status, _, _ = await running.post(json.dumps(payload).encode(), {}, "application/json")
    assert status == 401
    await barrier(running, slack, 0)
    assert channel_posts(slack) == []
    assert slack.calls_to("reactions.add") == []
    assert EventLedger(db).claim("slack", payload["event_id"])  # the event was never claimed


async def test_retry_of_an_answered_event_is_skipped(make_adapter: Any, serve: Any, slack: FakeSlack) -> None:
    running = await serve(make_adapter())
    await running.event(load_fixture("payload_app_mention.json"))
    await slack.wait_for("chat.postMessage")
    retry = load_fixture("request_app_mention_retry.json")
    status, _, _ = await running.event(load_fixture(retry["body"]), extra_headers=retry["headers"])
    assert status == 200
    await barrier(running, slack, 1)
    assert len(channel_posts(slack)) == 1
    assert len(slack.calls_to("reactions.add")) == 1


async def test_concurrent_duplicate_deliveries_are_answered_once(
    make_adapter: Any, serve: Any, slack: FakeSlack
) -> None:
    running = await serve(make_adapter())
    payload = load_fixture("payload_app_mention.json")
    retry = load_fixture("request_app_mention_retry.json")
    results = await asyncio.gather(
        running.event(payload), running.event(payload, extra_headers=retry["headers"]),
        running.event(payload, extra_headers={"X-Slack-Retry-Num": "2"}),
    )
    assert [r[0] for r in results] == [200, 200, 200]
    await slack.wait_for("chat.postMessage")
    await barrier(running, slack, 1)
    assert len(channel_posts(slack)) == 1


async def test_a_restart_between_deliveries_does_not_answer_twice(
    make_adapter: Any, serve: Any, slack: FakeSlack
) -> None:
    first = await serve(make_adapter())
    await first.event(load_fixture("payload_app_mention.json"))
    await slack.wait_for("reactions.remove")
    await first.adapter.stop()

    second = await serve(make_adapter())  # a new process: same database, fresh adapter
    retry = load_fixture("request_app_mention_retry.json")
    status, _, _ = await second.event(load_fixture(retry["body"]), extra_headers=retry["headers"])
    assert status == 200
    await barrier(second, slack, 1)
    assert len(channel_posts(slack)) == 1


async def test_rate_limited_post_is_retried_after_retry_after(
    make_adapter: Any, serve: Any, slack: FakeSlack
) -> None:
    slack.rate_limit_next("chat.postMessage", retry_after=1)
    running = await serve(make_adapter())
    await running.event(load_fixture("payload_app_mention.json"))
    await slack.wait_for("chat.postMessage")
    limited, accepted = slack.calls_to("chat.postMessage", ok_only=False)
    assert (limited.status, accepted.status) == (429, 200)
    assert accepted.time - limited.time >= 1.0
    assert accepted.params["blocks"] == limited.params["blocks"]
    assert len(slack.calls_to("chat.postMessage")) == 1


async def test_engine_failure_posts_the_apology_and_logs_the_traceback(
    make_adapter: Any, serve: Any, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    error = RuntimeError("lancedb exploded at /srv/kairan/data/secret.lance")
    running = await serve(make_adapter(engine=FailingEngine(error)))
    with caplog.at_level(logging.ERROR, logger="adapters.slack.app"):
        await running.event(load_fixture("payload_app_mention.json"))
        [post] = await slack.wait_for("chat.postMessage")
        await slack.wait_for("reactions.remove")
    assert post.params["text"] == wording.APOLOGY
    assert post.params["thread_ts"] == MENTION_TS
    sent = json.dumps([c.params for c in slack.calls], ensure_ascii=False)
    for leak in ("RuntimeError", "Traceback", "lancedb exploded", "/srv/kairan"):
        assert leak not in sent
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.exc_info is not None and record.exc_info[1] is error
    assert "Ev0MENTION0001" in record.getMessage()


LONG_ANSWER = "\n\n".join(f"第{i}段落[1]。" + "う" * 2985 for i in range(20))


class StreamedFixedAnswer(FixedAnswerEngine):
    """The fixed answer, streamed: a first piece of text, then the answer."""

    async def stream(
        self, message: IncomingMessage, *, collections: Sequence[str] | None = None
    ) -> AsyncIterator[str | Answer]:
        yield self.fixed.text[:100]
        yield await self.answer(message, collections=collections)


@pytest.mark.parametrize("streaming", [False, True])
async def test_a_long_answer_is_posted_as_several_messages_in_the_thread(
    streaming: bool, make_adapter: Any, serve: Any, slack: FakeSlack, db: Database
) -> None:
    """Issue 18: a 60,000-character answer went out as one message; Slack refused it
    (msg_blocks_too_long) and the asker got the apology instead."""
    long = Answer(text=LONG_ANSWER, citations=(CITATION,), abstained=False, audit_id="a-1")
    engine = StreamedFixedAnswer(long)
    running = await serve(make_adapter(engine=engine, streaming=streaming, stream_buffer=10))
    await running.event(load_fixture("payload_app_mention.json"))
    await slack.wait_for("reactions.remove")
    posts = slack.calls_to("chat.update") + slack.calls_to("chat.postMessage")  # the stream's, then the rest
    refused = [c for c in slack.calls if c.method.startswith("chat.") and not c.response.get("ok")]
    assert refused == []
    assert len(posts) > 4 and all(p.params.get("thread_ts", MENTION_TS) == MENTION_TS for p in posts)
    assert len(slack.calls_to("chat.update")) == int(streaming)
    body = [t for p in posts for t in texts(p) if t.startswith("第") or t.startswith("う")]
    assert "\n\n".join(body) == LONG_ANSWER  # in order, nothing lost
    assert wording.APOLOGY not in str([p.params for p in posts])
    assert all(f"[1] {DAI5JO_LINK} ✅" in "\n".join(texts(p)) for p in posts)  # each cites its source


async def test_feedback_click_is_stored_against_the_audit_record(
    make_adapter: Any, serve: Any, slack: FakeSlack, db: Database, audit: AuditLog
) -> None:
    running = await serve(make_adapter())
    await running.event(load_fixture("payload_app_mention.json"))
    [post] = await slack.wait_for("chat.postMessage")
    audit_id = feedback_buttons(post)[0]["value"]

    click = load_fixture("payload_block_actions.json")
    click["actions"][0]["value"] = audit_id
    status, elapsed, _ = await running.interaction(click)
    assert status == 200 and elapsed < 1.0
    [thanks] = await slack.wait_for("chat.postEphemeral")
    assert thanks.params["text"] == wording.FEEDBACK_THANKS
    assert (thanks.params["channel"], thanks.params["user"]) == (SOUMU_CHANNEL, "U0STAFF001")
    assert thanks.params["thread_ts"] == MENTION_TS
    [stored] = FeedbackStore(db).for_answer(audit_id)
    assert stored.value == "helpful"
    assert stored.user_hash == audit.hash_user("U0STAFF001")

    change = copy.deepcopy(click)
    change["actions"][0]["action_id"] = FEEDBACK_NOT_HELPFUL
    await running.interaction(change)
    await slack.wait_for("chat.postEphemeral", count=2)
    assert [f.value for f in FeedbackStore(db).for_answer(audit_id)] == ["not_helpful"]  # one vote per user


async def test_feedback_on_an_unknown_answer_is_reported_not_stored(
    make_adapter: Any, serve: Any, slack: FakeSlack, db: Database
) -> None:
    running = await serve(make_adapter())
    click = load_fixture("payload_block_actions.json")
    click["actions"][0]["value"] = "no-such-audit-record"
    assert (await running.interaction(click))[0] == 200
    [reply] = await slack.wait_for("chat.postEphemeral")
    assert reply.params["text"] == wording.FEEDBACK_FAILED
    assert FeedbackStore(db).counts() == {"helpful": 0, "not_helpful": 0}


async def test_abstention_is_worded_clearly_and_offers_the_inquiry_draft(
    make_adapter: Any, serve: Any, slack: FakeSlack
) -> None:
    running = await serve(make_adapter())
    payload = load_fixture("payload_app_mention.json")
    payload["event"]["text"] = "<@U0KAIRANBOT> ふるさと納税の返礼品の上限は？"
    await running.event(payload)
    answer, draft = await slack.wait_for("chat.postMessage", count=2)
    assert texts(answer)[0].startswith(ABSTAINED_LEAD)
    assert any("根拠となる資料が見つかりませんでした。" in t for t in texts(answer))
    assert not any(t.startswith("*出典*") for t in texts(answer))
    assert draft.params["thread_ts"] == MENTION_TS
    draft_texts = texts(draft)
    assert draft_texts[0] == INQUIRY_LEAD
    assert draft_texts[1].startswith("```\n件名：「ふるさと納税の返礼品の上限は」について（照会）")


async def test_streaming_uses_start_append_stop_and_ends_with_the_verified_answer(
    make_adapter: Any, serve: Any, slack: FakeSlack, searcher: Searcher, db: Database, audit: AuditLog
) -> None:
    provider = ScriptedProvider(
        "行政庁は、審査基準を定めるものとする[1]。審査基準は、できる限り具体的なものとしなければなりません[1]。",
        pieces=6,
    )
    engine = AnswerEngine(searcher=searcher, provider=provider, audit=audit, threads=ThreadStore(db),
                          settings=EngineSettings(rewrite=False))
    running = await serve(make_adapter(engine=engine, streaming=True, stream_buffer=10))
    await running.event(load_fixture("payload_app_mention.json"))
    [update] = await slack.wait_for("chat.update")
    [start] = slack.calls_to("chat.startStream")
    assert start.params["thread_ts"] == MENTION_TS
    assert start.params["recipient_user_id"] == "U0STAFF001"
    assert start.params["recipient_team_id"] == "T0TESTTEAM"
    stream_ts = start.response["ts"]
    appends, stops = slack.calls_to("chat.appendStream"), slack.calls_to("chat.stopStream")
    assert len(appends) >= 2
    streamed = "".join(streamed_text(c) for c in [start, *appends, *stops])
    assert streamed == provider.text
    assert [s.params["ts"] for s in stops] == [stream_ts]
    assert all(c.params["ts"] == stream_ts for c in slack.calls_to("chat.appendStream"))
    assert update.params["ts"] == stream_ts
    assert f"[1] {DAI5JO_LINK} ✅" in "\n".join(texts(update))
    assert feedback_buttons(update)[0]["value"]
    assert slack.calls_to("chat.postMessage") == []


async def test_streaming_unsupported_falls_back_to_one_message(
    make_adapter: Any, serve: Any, slack: FakeSlack, searcher: Searcher, audit: AuditLog
) -> None:
    slack.fail_next("chat.startStream", "unknown_method")
    provider = ScriptedProvider("行政庁は、審査基準を定めるものとする[1]。", pieces=3)
    engine = AnswerEngine(
        searcher=searcher, provider=provider, audit=audit, settings=EngineSettings(rewrite=False)
    )
    adapter = make_adapter(engine=engine, streaming=True, stream_buffer=1)
    running = await serve(adapter)
    await running.event(load_fixture("payload_app_mention.json"))
    [post] = await slack.wait_for("chat.postMessage")
    assert post.params["thread_ts"] == MENTION_TS
    assert f"[1] {DAI5JO_LINK} ✅" in "\n".join(texts(post))
    assert slack.calls_to("chat.appendStream") == [] and slack.calls_to("chat.update") == []
    assert adapter.channel.stream_supported is False


async def test_assistant_thread_start_greets_and_suggests_prompts(
    make_adapter: Any, serve: Any, slack: FakeSlack
) -> None:
    running = await serve(make_adapter())
    assert (await running.event(load_fixture("payload_assistant_thread_started.json")))[0] == 200
    [prompts] = await slack.wait_for("assistant.threads.setSuggestedPrompts")
    [greeting] = slack.calls_to("chat.postMessage")
    assert prompts.params["channel_id"] == greeting.params["channel"] == "D0STAFF002"
    assert prompts.params["thread_ts"] == greeting.params["thread_ts"] == "1715000800.000500"
    assert [p["title"] for p in prompts.params["prompts"]] == ["審査基準とは", "標準処理期間"]


async def test_url_verification_challenge_is_answered(make_adapter: Any, serve: Any) -> None:
    running = await serve(make_adapter())
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    status, _, text = await running.event(
        {"token": "fixture-verification-token", "challenge": challenge, "type": "url_verification"}
    )
    assert status == 200
    assert json.loads(text) == {"challenge": challenge}


async def test_send_posts_a_digest_to_the_channel(make_adapter: Any, serve: Any, slack: FakeSlack) -> None:
    running = await serve(make_adapter())
    digest = Digest("soumu-weekday", (
        DigestItem("地方自治法施行令の一部を改正する政令", "https://www.soumu.go.jp/a.html",
                   "施行は令和7年4月1日。", "2025-03-31", "総務省"),
    ))
    await running.adapter.send(ConversationRef("slack", TENANT, SOUMU_CHANNEL), digest)
    [post] = slack.calls_to("chat.postMessage")
    assert "thread_ts" not in post.params
    assert post.params["blocks"][0]["type"] == "header"
    assert "*<https://www.soumu.go.jp/a.html|地方自治法施行令の一部を改正する政令>*" in texts(post)[1]


async def test_was_posted_finds_a_digest_behind_more_than_one_page_of_messages(
    make_adapter: Any, serve: Any, slack: FakeSlack
) -> None:
    # After a crash between the post and the ledger update, a busy channel may have moved on by
    # hundreds of messages: the digest is looked for page by page (cursor), up to 2,000 messages.
    running = await serve(make_adapter())
    ref = ConversationRef("slack", TENANT, SOUMU_CHANNEL)
    digest = Digest("soumu-weekday", (
        DigestItem("地方自治法施行令の一部を改正する政令", "https://www.soumu.go.jp/a.html",
                   "施行は令和7年4月1日。", "2025-03-31", "総務省"),
    ))
    await running.adapter.send(ref, digest)
    for i in range(450):  # staff talking in the channel since
        await running.adapter.client.chat_postMessage(channel=SOUMU_CHANNEL, text=f"連絡 {i}")
    assert await running.adapter.was_posted(ref, digest_marker(digest))
    pages = slack.calls_to("conversations.history")
    assert [str(p.params["limit"]) for p in pages] == ["200"] * 3
    assert not await running.adapter.was_posted(ref, "another-marker")


@pytest.mark.parametrize(("channel", "kind"), [("C0PRIVATE1", "private"), ("G0GROUPDM1", "mpim")])
async def test_was_posted_finds_a_digest_in_a_private_channel_or_group_dm(
    channel: str, kind: str, make_adapter: Any, serve: Any, slack: FakeSlack
) -> None:
    """Issue 18: without groups:history, conversations.history in a private channel failed
    (missing_scope), so the digest runner could not tell whether an interrupted post had gone out
    and released its items: the next digest posted them a second time."""
    slack.set_channel_kind(channel, kind)
    running = await serve(make_adapter())
    digest = Digest("soumu-weekday", (
        DigestItem("地方自治法施行令の一部を改正する政令", "https://www.soumu.go.jp/a.html",
                   "施行は令和7年4月1日。", "2025-03-31", "総務省"),
    ))
    for thread in (None, "1715000000.000100"):  # a channel's history, a thread's replies
        ref = ConversationRef("slack", TENANT, channel, thread)
        await running.adapter.send(ref, digest)
        assert await running.adapter.was_posted(ref, digest_marker(digest))
        assert not await running.adapter.was_posted(ref, "another-marker")


async def test_a_rejected_bot_token_fails_start_with_a_clear_error(
    make_adapter: Any, slack: FakeSlack
) -> None:
    slack.fail_next("auth.test", "invalid_auth")
    adapter = make_adapter()
    with pytest.raises(SlackConfigError, match=r"auth\.test failed: invalid_auth"):
        await adapter.start()
    assert not adapter.connected()
    assert adapter.client.session is None  # the pooled session was closed again
