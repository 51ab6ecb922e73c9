"""The OpenAI-compatible provider (plain aiohttp) against a local fake of /v1/chat/completions."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.llm.base import (
    Completion,
    LLMRejected,
    LLMTimeout,
    LLMUnavailable,
    Prompt,
    StreamDone,
    TextDelta,
)
from bot.llm.openai_compatible import OpenAICompatibleProvider
from bot.models import Usage
from tests.bot.llm.conftest import SYSTEM_CONTEXT, SYSTEM_FIXED, collect
from tests.fakes.llm_servers import FakeOpenAIServer

MODEL = "qwen2.5-32b-instruct"
ANSWER = "原則として貸し付けできません[1]。"
DELTAS = ["原則として", "貸し付け", "できません", "[1]。"]


def make(
    server: FakeOpenAIServer,
    *,
    key: str | None = "test-key",
    retries: int = 2,
    timeout_s: float = 5.0,
    session: aiohttp.ClientSession | None = None,
) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        base_url=f"{server.base_url}/v1/",
        model=MODEL,
        api_key=key,
        session=session,
        retries=retries,
        timeout_s=timeout_s,
    )


@pytest.fixture
async def provider(openai_server: FakeOpenAIServer) -> AsyncIterator[OpenAICompatibleProvider]:
    provider = OpenAICompatibleProvider(
        base_url=f"{openai_server.base_url}/v1",
        model=MODEL,
        api_key="test-key",
        retries=2,
        timeout_s=5.0,
        backoff_s=0.001,
    )
    yield provider
    await provider.aclose()


async def test_complete_returns_text_and_usage(
    provider: OpenAICompatibleProvider, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    openai_server.script(
        ANSWER,
        usage={
            "prompt_tokens": 2100,
            "completion_tokens": 17,
            "prompt_tokens_details": {"cached_tokens": 1536},
        },
    )
    completion = await provider.complete(prompt)
    assert completion == Completion(
        ANSWER,
        Usage(
            provider="openai_compatible",
            model=MODEL,
            input_tokens=2100,
            output_tokens=17,
            cache_read_tokens=1536,
        ),
        "stop",
    )


async def test_request_carries_one_system_message_and_the_turns(
    provider: OpenAICompatibleProvider, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    await provider.complete(prompt)
    sent = openai_server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["Authorization"] == "Bearer test-key"
    assert sent.body == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": f"{SYSTEM_FIXED}\n\n{SYSTEM_CONTEXT}"},
            {"role": "user", "content": "行政財産は貸し付けできますか？"},
            {"role": "assistant", "content": "原則としてできません[1]。"},
            {"role": "user", "content": "例外はありますか？"},
        ],
        "max_tokens": 800,
        "temperature": 0.0,
        "stream": False,
    }


async def test_stream_yields_deltas_then_done_with_usage(
    provider: OpenAICompatibleProvider, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    openai_server.script(ANSWER, deltas=DELTAS, usage={"prompt_tokens": 2100, "completion_tokens": 9})
    events = await collect(provider.stream(prompt))
    assert events == [
        *(TextDelta(d) for d in DELTAS),
        StreamDone(
            Completion(
                ANSWER,
                Usage(provider="openai_compatible", model=MODEL, input_tokens=2100, output_tokens=9),
                "stop",
            )
        ),
    ]
    body = openai_server.requests[0].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


async def test_two_server_errors_then_success(
    provider: OpenAICompatibleProvider, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    openai_server.script(ANSWER)
    openai_server.fail_next(500, times=2)
    assert (await provider.complete(prompt)).text == ANSWER
    assert len(openai_server.requests) == 3


async def test_persistent_503_ends_as_unavailable(
    provider: OpenAICompatibleProvider, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    openai_server.fail_next(503, times=5)
    with pytest.raises(LLMUnavailable) as info:
        await provider.complete(prompt)
    assert info.value.status == 503
    assert str(info.value) == (
        "openai_compatible: HTTP 503: server_error: injected failure 503 (after 3 attempts)"
    )
    assert len(openai_server.requests) == 3


async def test_429_waits_for_retry_after(
    provider: OpenAICompatibleProvider, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    openai_server.fail_next(429, times=1, retry_after=0.4)
    started = time.monotonic()
    await provider.complete(prompt)
    assert time.monotonic() - started >= 0.4
    assert len(openai_server.requests) == 2


async def test_slow_response_ends_as_timeout(openai_server: FakeOpenAIServer, prompt: Prompt) -> None:
    provider = make(openai_server, retries=1, timeout_s=0.3)
    openai_server.delay_next(2.0, times=2)
    started = time.monotonic()
    with pytest.raises(LLMTimeout):
        await provider.complete(prompt)
    await provider.aclose()
    assert time.monotonic() - started < 1.5
    assert len(openai_server.requests) == 2


async def test_wrong_key_rejected_without_retry_and_not_logged(
    openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    wrong = "sk-local-0123456789abcdef"
    provider = make(openai_server, key=wrong)
    with pytest.raises(LLMRejected) as info:
        await provider.complete(prompt)
    await provider.aclose()
    assert info.value.status == 401
    assert len(openai_server.requests) == 1
    assert str(info.value).startswith("openai_compatible: HTTP 401: invalid_request_error: Incorrect API key")
    assert wrong not in str(info.value) and "0123456789" not in str(info.value)


async def test_stream_broken_after_a_delta_is_not_retried(
    provider: OpenAICompatibleProvider, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    openai_server.script(ANSWER, deltas=DELTAS, break_after=2)
    seen: list[str] = []
    with pytest.raises(LLMUnavailable, match="model crashed"):
        async for event in provider.stream(prompt):
            assert isinstance(event, TextDelta)
            seen.append(event.text)
    assert seen == DELTAS[:2]
    assert len(openai_server.requests) == 1


async def test_stream_retried_while_nothing_was_yielded(
    provider: OpenAICompatibleProvider, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    openai_server.script(ANSWER, deltas=DELTAS)
    openai_server.fail_next(502, times=2)
    events = await collect(provider.stream(prompt))
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta(d) for d in DELTAS]
    assert len(openai_server.requests) == 3


async def test_stalled_stream_ends_as_timeout(openai_server: FakeOpenAIServer, prompt: Prompt) -> None:
    provider = make(openai_server, retries=0, timeout_s=0.3)
    openai_server.delay_next(2.0)
    with pytest.raises(LLMTimeout):
        await collect(provider.stream(prompt))
    await provider.aclose()


async def test_no_key_sends_no_authorization_and_keeps_a_given_session(prompt: Prompt) -> None:
    async with FakeOpenAIServer(api_key=None) as server, aiohttp.ClientSession() as session:
        provider = make(server, key=None, session=session)
        server.script(ANSWER)
        assert (await provider.complete(prompt)).text == ANSWER
        await provider.aclose()
        assert not session.closed
        assert "Authorization" not in server.requests[0].headers


async def test_unreachable_server_is_unavailable(prompt: Prompt) -> None:
    async with FakeOpenAIServer() as server:
        base_url = server.base_url
    provider = OpenAICompatibleProvider(
        base_url=base_url, model=MODEL, api_key=None, retries=1, timeout_s=2.0, backoff_s=0.001
    )
    with pytest.raises(LLMUnavailable, match="connection failed"):
        await provider.complete(prompt)
    await provider.aclose()
