"""What the answer path does beside the answer: the progress reaction runs alongside, and a
Slack retry of an event this process already claimed never reaches the state database."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from adapters.slack.channel import PROGRESS_REACTION
from bot import wording
from bot.answer_text import FALLBACK_NOTICE
from bot.engine import AnswerEngine, EngineSettings
from bot.llm.base import Completion, LLMUnavailable, Prompt, StreamEvent
from bot.models import Answer, IncomingMessage
from bot.state.audit import AuditLog
from bot.state.db import Database
from bot.state.events import EventLedger
from bot.state.threads import ThreadStore
from knowledge.search import Searcher
from tests.adapters.slack.conftest import load_fixture
from tests.fakes.engines import ScriptedProvider
from tests.fakes.slack_api import FakeSlack

REACTION_DELAY = 1.0


class TimedEngine:
    """The real engine, noting when each question reached it."""

    def __init__(self, inner: AnswerEngine) -> None:
        self.inner = inner
        self.started: list[float] = []

    async def answer(self, message: IncomingMessage, *, collections: Sequence[str] | None = None) -> Answer:
        self.started.append(time.perf_counter())
        return await self.inner.answer(message, collections=collections)

    def stream(
        self, message: IncomingMessage, *, collections: Sequence[str] | None = None
    ) -> AsyncIterator[str | Answer]:
        self.started.append(time.perf_counter())
        return self.inner.stream(message, collections=collections)


class CallRecordingProvider(ScriptedProvider):
    """The scripted LLM, noting which call the engine made; ``error`` fails every call."""

    def __init__(self, text: str, *, error: Exception | None = None) -> None:
        super().__init__(text, pieces=3)
        self.calls: list[str] = []
        self.error = error

    async def complete(self, prompt: Prompt) -> Completion:
        self.calls.append("complete")
        if self.error is not None:
            raise self.error
        return await super().complete(prompt)

    async def stream(self, prompt: Prompt) -> AsyncIterator[StreamEvent]:
        self.calls.append("stream")
        if self.error is not None:
            raise self.error
        async for event in super().stream(prompt):
            yield event


def llm_engine(searcher: Searcher, db: Database, audit: AuditLog, provider: ScriptedProvider) -> AnswerEngine:
    return AnswerEngine(searcher=searcher, provider=provider, audit=audit, threads=ThreadStore(db),
                        settings=EngineSettings(rewrite=False))


class CountingLedger(EventLedger):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.claims: list[str] = []

    def claim(self, platform: str, event_id: str, **kwargs: Any) -> bool:
        self.claims.append(event_id)
        return super().claim(platform, event_id, **kwargs)


async def test_the_question_is_answered_while_the_progress_reaction_is_on_its_way(
    make_adapter: Any, serve: Any, slack: FakeSlack, engine: AnswerEngine
) -> None:
    timed = TimedEngine(engine)
    slack.delay("reactions.add", REACTION_DELAY)
    running = await serve(make_adapter(engine=timed))
    await running.event(load_fixture("payload_app_mention.json"))
    await slack.wait_for("reactions.remove")

    [added] = slack.calls_to("reactions.add")
    assert added.params["name"] == PROGRESS_REACTION
    [started] = timed.started
    assert started < added.time + REACTION_DELAY  # the engine did not wait for Slack's reply
    methods = slack.methods()  # in the order Slack answered them
    order = [methods.index(m) for m in ("reactions.add", "chat.postMessage", "reactions.remove")]
    assert order == sorted(order)  # yet the answer is posted only after the reaction is shown


async def test_a_retry_of_a_claimed_event_is_skipped_without_a_database_write(
    make_adapter: Any, serve: Any, slack: FakeSlack, db: Database
) -> None:
    ledger = CountingLedger(db)
    running = await serve(make_adapter(ledger=ledger))
    payload = load_fixture("payload_app_mention.json")
    await running.event(payload)
    await slack.wait_for("reactions.remove")
    retry = load_fixture("request_app_mention_retry.json")
    status, _, _ = await running.event(load_fixture(retry["body"]), extra_headers=retry["headers"])
    assert status == 200
    second = dict(payload, event_id="Ev0SECOND0001")  # a different event still goes to the ledger
    second["event"] = dict(payload["event"], ts="1716000001.000100", event_ts="1716000001.000100")
    await running.event(second)
    await slack.wait_for("reactions.remove", count=2)

    assert ledger.claims == [payload["event_id"], "Ev0SECOND0001"]
    assert len(slack.calls_to("chat.postMessage")) == 2  # one answer each, none for the retry


async def test_without_streaming_the_llm_is_asked_for_one_response_and_the_answer_verified(
    make_adapter: Any, serve: Any, slack: FakeSlack, searcher: Searcher, db: Database, audit: AuditLog
) -> None:
    provider = CallRecordingProvider("行政庁は、審査基準を定めるものとする[1]。存在しない規定もあります[7]。")
    running = await serve(make_adapter(engine=llm_engine(searcher, db, audit, provider), streaming=False))
    await running.event(load_fixture("payload_app_mention.json"))
    await slack.wait_for("reactions.remove")

    assert provider.calls == ["complete"]  # no stream iterated for a reply nobody sees grow
    assert slack.calls_to("chat.startStream") == [] and slack.calls_to("chat.appendStream") == []
    [post] = slack.calls_to("chat.postMessage")
    text, posted = post.params["text"], str(post.params)
    assert text.startswith("行政庁は、審査基準を定めるものとする[1]。存在しない規定もあります。")  # no [7]
    assert "出典[7]は存在しないため削除しました" in posted  # and flagged
    assert "行政手続法 第五条" in posted


async def test_without_streaming_an_llm_failure_still_posts_the_extractive_answer(
    make_adapter: Any, serve: Any, slack: FakeSlack, searcher: Searcher, db: Database, audit: AuditLog
) -> None:
    error = LLMUnavailable("openai_compatible", "overloaded", status=503)
    provider = CallRecordingProvider("unused", error=error)
    running = await serve(make_adapter(engine=llm_engine(searcher, db, audit, provider), streaming=False))
    await running.event(load_fixture("payload_app_mention.json"))
    await slack.wait_for("reactions.remove")

    assert provider.calls == ["complete"]
    [post] = slack.calls_to("chat.postMessage")
    assert FALLBACK_NOTICE in str(post.params) and wording.APOLOGY not in str(post.params)
    assert "行政手続法 第五条" in str(post.params)
