"""Claude on Bedrock and Vertex AI: the real SDK clients against the fake's platform endpoints."""

from __future__ import annotations

import pytest

from bot.llm.anthropic_provider import bedrock_provider, vertex_provider
from bot.llm.base import Completion, LLMRejected, LLMUnavailable, Prompt, StreamDone, StreamEvent, TextDelta
from bot.models import Usage
from tests.bot.llm.conftest import SYSTEM_FIXED, collect
from tests.bot.llm.test_anthropic import ANSWER, DELTAS
from tests.fakes.llm_servers import FakeAnthropicServer

BEDROCK_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"


async def test_bedrock_invoke_and_stream(
    anthropic_server: FakeAnthropicServer, prompt: Prompt, fake_aws: str
) -> None:
    provider = bedrock_provider(BEDROCK_MODEL, "ap-northeast-1", anthropic_server.base_url, timeout_s=5.0)
    anthropic_server.script(
        ANSWER,
        deltas=DELTAS,
        usage={"input_tokens": 290, "output_tokens": 38, "cache_read_input_tokens": 1700},
    )
    completion = await provider.complete(prompt)
    events = await collect(provider.stream(prompt))
    await provider.aclose()
    expected_usage = Usage(
        provider="bedrock", model=BEDROCK_MODEL, input_tokens=290, output_tokens=38, cache_read_tokens=1700
    )
    assert completion == Completion(ANSWER, expected_usage, "end_turn")
    assert events == [
        *(TextDelta(d) for d in DELTAS),
        StreamDone(Completion(ANSWER, expected_usage, "end_turn")),
    ]
    invoke, stream = anthropic_server.requests
    assert invoke.path == f"/model/{BEDROCK_MODEL}/invoke"
    assert stream.path == f"/model/{BEDROCK_MODEL}/invoke-with-response-stream"
    for sent in (invoke, stream):
        assert sent.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={fake_aws}/")
        assert "/ap-northeast-1/bedrock/aws4_request" in sent.headers["Authorization"]
        assert "model" not in sent.body and sent.body["anthropic_version"]
        assert sent.body["system"][0] == {
            "type": "text",
            "text": SYSTEM_FIXED,
            "cache_control": {"type": "ephemeral"},
        }


async def test_bedrock_stream_error_frame_is_unavailable(
    anthropic_server: FakeAnthropicServer, prompt: Prompt, fake_aws: str
) -> None:
    provider = bedrock_provider(BEDROCK_MODEL, "ap-northeast-1", anthropic_server.base_url, retries=0)
    anthropic_server.script(ANSWER, deltas=DELTAS, break_after=1)
    events: list[StreamEvent] = []
    with pytest.raises(LLMUnavailable, match="Overloaded"):
        async for event in provider.stream(prompt):
            events.append(event)
    await provider.aclose()
    assert events == [TextDelta(DELTAS[0])]


async def test_bedrock_unknown_credentials_rejected(
    anthropic_server: FakeAnthropicServer, prompt: Prompt, fake_aws: str
) -> None:
    anthropic_server.aws_access_key = "AKIDSOMEONEELSE"
    provider = bedrock_provider(BEDROCK_MODEL, "ap-northeast-1", anthropic_server.base_url)
    with pytest.raises(LLMRejected) as info:
        await provider.complete(prompt)
    await provider.aclose()
    assert info.value.status == 403
    assert len(anthropic_server.requests) == 1


VERTEX_MODEL = "claude-sonnet-4-5@20250929"


async def test_vertex_raw_predict_and_stream(anthropic_server: FakeAnthropicServer, prompt: Prompt) -> None:
    provider = vertex_provider(
        VERTEX_MODEL,
        "asia-northeast1",
        "kairan-test",
        anthropic_server.vertex_base_url,
        access_token=anthropic_server.access_token,
        timeout_s=5.0,
    )
    anthropic_server.script(ANSWER, deltas=DELTAS, usage={"cache_creation_input_tokens": 1500})
    completion = await provider.complete(prompt)
    events = await collect(provider.stream(prompt))
    await provider.aclose()
    assert completion.text == ANSWER
    assert completion.usage == Usage(
        provider="vertex",
        model=VERTEX_MODEL,
        input_tokens=100,
        output_tokens=len(DELTAS),
        cache_write_tokens=1500,
    )
    assert events[-1] == StreamDone(completion)
    prefix = "/v1/projects/kairan-test/locations/asia-northeast1/publishers/anthropic/models/"
    assert [r.path for r in anthropic_server.requests] == [
        f"{prefix}{VERTEX_MODEL}:rawPredict",
        f"{prefix}{VERTEX_MODEL}:streamRawPredict",
    ]
    assert all(r.headers["Authorization"] == "Bearer ya29.fake-token" for r in anthropic_server.requests)
    assert anthropic_server.requests[1].body["stream"] is True


async def test_vertex_bad_token_rejected(anthropic_server: FakeAnthropicServer, prompt: Prompt) -> None:
    provider = vertex_provider(
        VERTEX_MODEL,
        "asia-northeast1",
        "kairan-test",
        anthropic_server.vertex_base_url,
        access_token="ya29.expired",
    )
    with pytest.raises(LLMRejected) as info:
        await provider.complete(prompt)
    await provider.aclose()
    assert info.value.status == 401
    assert "ya29.expired" not in str(info.value)
