"""LLM timeouts and 5xx, end to end: Slack mention → adapter → answer engine → real LLM client → fake server.

Both providers are real: the Anthropic SDK (``AsyncAnthropic``) and kairan's OpenAI-compatible
aiohttp client, each against its local fake server. Whatever the LLM does, the staff member gets
exactly one reply in the thread: the extractive answer with the Japanese notice, citing the
article, never exception text. The operator gets one WARNING line naming the provider and the
failure; the retries before it are INFO.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from anthropic import AsyncAnthropic

from bot.answer_text import FALLBACK_NOTICE
from bot.engine import AnswerEngine, EngineSettings
from bot.llm.anthropic_provider import AnthropicProvider
from bot.llm.base import LLMProvider
from bot.llm.openai_compatible import OpenAICompatibleProvider
from bot.state.audit import AuditLog
from bot.state.db import Database
from bot.state.threads import ThreadStore
from knowledge.search import Searcher
from tests.adapters.slack.conftest import SOUMU_CHANNEL, load_fixture
from tests.fakes.llm_fake_base import FakeLLMServer
from tests.fakes.llm_servers import FakeAnthropicServer, FakeOpenAIServer
from tests.fakes.slack_api import FakeSlack
from tests.faults.conftest import assert_one_clear_line

MENTION_TS = "1715000000.000100"
LLM = tuple[FakeLLMServer, Callable[..., LLMProvider]]  # a fake server, a factory of real clients for it
FORBIDDEN_IN_CHAT = ("Error", "error", "Traceback", "injected failure", "Timeout", "127.0.0.1", "HTTP")


@pytest.fixture(params=["anthropic", "openai_compatible"])
async def llm(request: pytest.FixtureRequest) -> AsyncIterator[LLM]:
    """A fake LLM server and a factory for the real provider client pointed at it."""
    server: FakeLLMServer = (
        FakeAnthropicServer(api_key="test-key") if request.param == "anthropic" else FakeOpenAIServer()
    )
    providers: list[LLMProvider] = []

    def provider(*, timeout_s: float = 5.0, retries: int = 2) -> LLMProvider:
        made: LLMProvider
        if isinstance(server, FakeAnthropicServer):
            client = AsyncAnthropic(api_key="test-key", base_url=server.base_url, max_retries=0)
            made = AnthropicProvider(
                client=client, provider_name="anthropic", model="claude-test", retries=retries,
                timeout_s=timeout_s, backoff_s=0.01,
            )  # fmt: skip
        else:
            made = OpenAICompatibleProvider(
                base_url=f"{server.base_url}/v1", model="qwen-test", api_key="test-key", retries=retries,
                timeout_s=timeout_s, backoff_s=0.01,
            )  # fmt: skip
        providers.append(made)
        return made

    async with server:
        yield server, provider
    for made in providers:
        await made.aclose()


def engine_with(searcher: Searcher, db: Database, provider: LLMProvider) -> AnswerEngine:
    return AnswerEngine(
        searcher=searcher, provider=provider, threads=ThreadStore(db), audit=AuditLog(db, salt="s"),
        settings=EngineSettings(rewrite=False),
    )  # fmt: skip


async def ask_once(make_adapter: Any, serve: Any, slack: FakeSlack, engine: AnswerEngine) -> dict[str, Any]:
    """Mention the bot once; wait until the adapter is done (progress cleared); return the one post."""
    running = await serve(make_adapter(engine=engine))
    status, _, _ = await running.event(load_fixture("payload_app_mention.json"))
    assert status == 200
    await slack.wait_for("reactions.remove", timeout=30)
    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 1, [p.params.get("text") for p in posts]  # one reply: none lost, none doubled
    [post] = posts
    assert post.params["channel"] == SOUMU_CHANNEL and post.params["thread_ts"] == MENTION_TS
    return post.params


def assert_extractive_reply(params: dict[str, Any]) -> None:
    assert params["text"].startswith(FALLBACK_NOTICE)
    shown = "\n".join(b["text"]["text"] for b in params["blocks"] if b.get("type") == "section")
    assert shown.startswith(FALLBACK_NOTICE)
    assert "行政手続法" in shown and "第五条" in shown  # the article it found, cited
    for word in FORBIDDEN_IN_CHAT:
        assert word not in params["text"] and word not in shown, word


async def test_llm_5xx_gives_one_extractive_reply_and_one_warning(
    llm: LLM, searcher: Searcher, db: Database,
    make_adapter: Any, serve: Any, slack: FakeSlack, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    server, provider = llm
    server.fail_next(503, times=50)
    with caplog.at_level(logging.INFO):
        params = await ask_once(make_adapter, serve, slack, engine_with(searcher, db, provider(retries=2)))

    assert_extractive_reply(params)
    assert len(server.requests) == 3  # the first try and two retries, then the fallback
    record = assert_one_clear_line(caplog, "LLM failed, answering extractively", "503", "after 3 attempts")
    assert record.name == "bot.engine"
    retries = [r for r in caplog.records if r.name == "bot.llm.retry"]
    assert len(retries) == 2 and all(r.levelno == logging.INFO for r in retries)


async def test_llm_timeout_gives_one_extractive_reply_and_one_warning(
    llm: LLM, searcher: Searcher, db: Database,
    make_adapter: Any, serve: Any, slack: FakeSlack, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    server, provider = llm
    server.delay_next(3.0, times=10)
    with caplog.at_level(logging.INFO):
        params = await ask_once(
            make_adapter, serve, slack, engine_with(searcher, db, provider(timeout_s=0.3, retries=1))
        )

    assert_extractive_reply(params)
    assert len(server.requests) == 2
    assert_one_clear_line(caplog, "LLM failed, answering extractively", "0.3s", "after 2 attempts")


async def test_a_transient_llm_5xx_is_retried_and_answered_by_the_llm_without_a_warning(
    llm: LLM, searcher: Searcher, db: Database,
    make_adapter: Any, serve: Any, slack: FakeSlack, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    server, provider = llm
    server.script("行政庁は審査基準を定めるものとされています[1]。")
    server.fail_next(500, times=1)
    with caplog.at_level(logging.INFO):
        params = await ask_once(make_adapter, serve, slack, engine_with(searcher, db, provider()))

    assert not params["text"].startswith(FALLBACK_NOTICE)
    assert len(server.requests) == 2
    assert [r.levelno for r in caplog.records if r.levelno >= logging.WARNING] == []
    [retry] = [r for r in caplog.records if r.name == "bot.llm.retry"]
    assert "500" in retry.getMessage() and "attempt 1 of 3" in retry.getMessage()
