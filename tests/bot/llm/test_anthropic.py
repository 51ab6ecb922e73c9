"""The Anthropic provider with the real anthropic SDK against a local fake of the Messages API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from anthropic import AsyncAnthropic

from bot.llm.anthropic_provider import AnthropicProvider
from bot.llm.base import (
    Completion,
    LLMRejected,
    LLMTimeout,
    LLMUnavailable,
    Prompt,
    StreamDone,
    TextDelta,
)
from bot.models import Usage
from tests.bot.llm.conftest import SYSTEM_CONTEXT, SYSTEM_FIXED, collect
from tests.fakes.llm_servers import FakeAnthropicServer

MODEL = "claude-sonnet-4-6"  # not in the SDK's deprecated list (its warning would fail the run)
ANSWER = "原則として貸し付けできません[1]。「これを貸し付け…ることができない」とあります。"
DELTAS = ["原則として", "貸し付けできません[1]。", "「これを貸し付け…ることができない」", "とあります。"]


def make(
    server: FakeAnthropicServer, *, key: str = "test-key", retries: int = 2, timeout_s: float = 5.0
) -> AnthropicProvider:
    client = AsyncAnthropic(api_key=key, base_url=server.base_url)
    return AnthropicProvider(
        client=client,
        provider_name="anthropic",
        model=MODEL,
        retries=retries,
        timeout_s=timeout_s,
        backoff_s=0.001,
    )


@pytest.fixture
async def provider(anthropic_server: FakeAnthropicServer) -> AsyncIterator[AnthropicProvider]:
    provider = make(anthropic_server)
    yield provider
    await provider.aclose()


async def test_complete_returns_text_and_usage_with_cache_tokens(
    provider: AnthropicProvider, anthropic_server: FakeAnthropicServer, prompt: Prompt
) -> None:
    anthropic_server.script(
        ANSWER,
        usage={
            "input_tokens": 312,
            "output_tokens": 41,
            "cache_read_input_tokens": 1800,
            "cache_creation_input_tokens": 25,
        },
    )
    completion = await provider.complete(prompt)
    assert completion == Completion(
        text=ANSWER,
        usage=Usage(
            provider="anthropic",
            model=MODEL,
            input_tokens=312,
            output_tokens=41,
            cache_read_tokens=1800,
            cache_write_tokens=25,
        ),
        stop_reason="end_turn",
    )
    assert len(anthropic_server.requests) == 1


async def test_request_puts_fixed_part_in_a_cached_system_block(
    provider: AnthropicProvider, anthropic_server: FakeAnthropicServer, prompt: Prompt
) -> None:
    await provider.complete(prompt)
    sent = anthropic_server.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["Authorization"] == "Bearer test-key"
    assert sent.headers["anthropic-version"]
    assert sent.body["system"] == [
        {"type": "text", "text": SYSTEM_FIXED, "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": SYSTEM_CONTEXT},
    ]
    assert sent.body["messages"] == [
        {"role": "user", "content": "行政財産は貸し付けできますか？"},
        {"role": "assistant", "content": "原則としてできません[1]。"},
        {"role": "user", "content": "例外はありますか？"},
    ]
    assert sent.body["model"] == MODEL
    assert sent.body["max_tokens"] == 800
    assert "stream" not in sent.body


async def test_stream_yields_deltas_in_order_then_done(
    provider: AnthropicProvider, anthropic_server: FakeAnthropicServer, prompt: Prompt
) -> None:
    anthropic_server.script(
        ANSWER,
        deltas=DELTAS,
        usage={"input_tokens": 300, "output_tokens": 40, "cache_read_input_tokens": 1800},
    )
    events = await collect(provider.stream(prompt))
    assert events[:-1] == [TextDelta(d) for d in DELTAS]
    assert events[-1] == StreamDone(
        Completion(
            text=ANSWER,
            usage=Usage(
                provider="anthropic",
                model=MODEL,
                input_tokens=300,
                output_tokens=40,
                cache_read_tokens=1800,
                cache_write_tokens=0,
            ),
            stop_reason="end_turn",
        )
    )
    assert anthropic_server.requests[0].body["stream"] is True
    assert anthropic_server.requests[0].body["system"][0]["cache_control"] == {"type": "ephemeral"}


async def test_two_server_errors_then_success(
    provider: AnthropicProvider, anthropic_server: FakeAnthropicServer, prompt: Prompt
) -> None:
    anthropic_server.script(ANSWER)
    anthropic_server.fail_next(500, times=2)
    completion = await provider.complete(prompt)
    assert completion.text == ANSWER
    assert len(anthropic_server.requests) == 3


async def test_persistent_503_ends_as_unavailable_after_retries(
    provider: AnthropicProvider, anthropic_server: FakeAnthropicServer, prompt: Prompt
) -> None:
    anthropic_server.fail_next(503, times=5)
    with pytest.raises(LLMUnavailable) as info:
        await provider.complete(prompt)
    assert info.value.status == 503
    assert len(anthropic_server.requests) == 3
    assert str(info.value).startswith("anthropic: HTTP 503: overloaded_error")
    assert str(info.value).endswith("(after 3 attempts)")
    assert "test-key" not in str(info.value)


async def test_429_waits_for_retry_after(
    provider: AnthropicProvider, anthropic_server: FakeAnthropicServer, prompt: Prompt
) -> None:
    anthropic_server.fail_next(429, times=1, retry_after=0.4)
    started = time.monotonic()
    await provider.complete(prompt)
    assert time.monotonic() - started >= 0.4
    assert len(anthropic_server.requests) == 2


async def test_slow_response_ends_as_timeout(anthropic_server: FakeAnthropicServer, prompt: Prompt) -> None:
    provider = make(anthropic_server, retries=1, timeout_s=0.3)
    anthropic_server.delay_next(2.0, times=2)
    started = time.monotonic()
    with pytest.raises(LLMTimeout) as info:
        await provider.complete(prompt)
    await provider.aclose()
    assert time.monotonic() - started < 1.5
    assert len(anthropic_server.requests) == 2
    assert str(info.value).startswith("anthropic: ")


async def test_wrong_key_is_rejected_without_retry(
    anthropic_server: FakeAnthropicServer, prompt: Prompt
) -> None:
    provider = make(anthropic_server, key="sk-ant-wrong-key-123456")
    with pytest.raises(LLMRejected) as info:
        await provider.complete(prompt)
    await provider.aclose()
    assert info.value.status == 401
    assert str(info.value) == "anthropic: HTTP 401: authentication_error: invalid x-api-key"
    assert len(anthropic_server.requests) == 1


async def test_stream_retries_when_nothing_was_yielded(
    provider: AnthropicProvider, anthropic_server: FakeAnthropicServer, prompt: Prompt
) -> None:
    anthropic_server.script(ANSWER, deltas=DELTAS)
    anthropic_server.fail_next(529, times=1)
    events = await collect(provider.stream(prompt))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == ANSWER
    assert len(anthropic_server.requests) == 2


async def test_stream_error_before_first_delta_is_retried_then_reported(
    provider: AnthropicProvider, anthropic_server: FakeAnthropicServer, prompt: Prompt
) -> None:
    anthropic_server.script(ANSWER, deltas=DELTAS, break_after=0)
    with pytest.raises(LLMUnavailable, match="overloaded_error"):
        await collect(provider.stream(prompt))
    assert len(anthropic_server.requests) == 3


async def test_stream_broken_after_a_delta_is_not_retried(
    provider: AnthropicProvider, anthropic_server: FakeAnthropicServer, prompt: Prompt
) -> None:
    anthropic_server.script(ANSWER, deltas=DELTAS, break_after=2)
    seen: list[str] = []
    with pytest.raises(LLMUnavailable):
        async for event in provider.stream(prompt):
            assert isinstance(event, TextDelta)
            seen.append(event.text)
    assert seen == DELTAS[:2]
    assert len(anthropic_server.requests) == 1


async def test_stalled_stream_ends_as_timeout(anthropic_server: FakeAnthropicServer, prompt: Prompt) -> None:
    provider = make(anthropic_server, retries=0, timeout_s=0.3)
    anthropic_server.delay_next(2.0)
    with pytest.raises(LLMTimeout):
        await collect(provider.stream(prompt))
    await provider.aclose()
    assert len(anthropic_server.requests) == 1
