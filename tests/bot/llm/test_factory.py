"""provider_from_config: the manifest's llm section to a provider, or None for extractive answers."""

from __future__ import annotations

import logging

import pytest

from bot.llm.anthropic_provider import AnthropicProvider
from bot.llm.base import Prompt
from bot.llm.factory import provider_from_config
from bot.llm.openai_compatible import OpenAICompatibleProvider
from manifest.schema import LLMConfig
from tests.fakes.llm_servers import FakeAnthropicServer, FakeOpenAIServer

MODEL = "claude-sonnet-4-6"


def test_none_gives_no_provider() -> None:
    assert provider_from_config(LLMConfig(), environ={"ANTHROPIC_API_KEY": "x"}) is None


def test_anthropic_without_key_falls_back_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    config = LLMConfig(provider="anthropic", model=MODEL, api_key_env="KAIRAN_ANTHROPIC_KEY")
    with caplog.at_level(logging.WARNING, logger="bot.llm.factory"):
        assert provider_from_config(config, environ={"ANTHROPIC_API_KEY": "other"}) is None
    assert "KAIRAN_ANTHROPIC_KEY is not set" in caplog.text


async def test_anthropic_with_key_sends_that_key(
    anthropic_server: FakeAnthropicServer, prompt: Prompt
) -> None:
    config = LLMConfig(
        provider="anthropic",
        model=MODEL,
        api_key_env="KAIRAN_ANTHROPIC_KEY",
        base_url=anthropic_server.base_url,
        timeout_s=5,
    )
    provider = provider_from_config(config, environ={"KAIRAN_ANTHROPIC_KEY": "test-key"})
    assert isinstance(provider, AnthropicProvider)
    assert (provider.name, provider.model) == ("anthropic", MODEL)
    anthropic_server.script("回答[1]")
    assert (await provider.complete(prompt)).text == "回答[1]"
    await provider.aclose()
    assert anthropic_server.requests[0].headers["Authorization"] == "Bearer test-key"


async def test_anthropic_base_url_from_environment(
    anthropic_server: FakeAnthropicServer, prompt: Prompt
) -> None:
    config = LLMConfig(provider="anthropic", model=MODEL, api_key_env="ANTHROPIC_API_KEY")
    environ = {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": anthropic_server.base_url}
    provider = provider_from_config(config, environ=environ)
    assert provider is not None
    await provider.complete(prompt)
    await provider.aclose()
    assert len(anthropic_server.requests) == 1


async def test_openai_compatible_with_and_without_key(
    openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    base_url = f"{openai_server.base_url}/v1"
    keyed = LLMConfig(provider="openai_compatible", model="llama3", base_url=base_url, api_key_env="VLLM_KEY")
    assert provider_from_config(keyed, environ={}) is None
    provider = provider_from_config(keyed, environ={"VLLM_KEY": "test-key"})
    assert isinstance(provider, OpenAICompatibleProvider)
    await provider.complete(prompt)
    await provider.aclose()
    assert openai_server.requests[0].headers["Authorization"] == "Bearer test-key"
    keyless = LLMConfig(provider="openai_compatible", model="llama3", base_url=base_url)
    provider = provider_from_config(keyless, environ={})
    assert isinstance(provider, OpenAICompatibleProvider)
    await provider.aclose()


async def test_bedrock_uses_the_aws_chain(
    anthropic_server: FakeAnthropicServer, prompt: Prompt, fake_aws: str
) -> None:
    config = LLMConfig(
        provider="bedrock",
        model="anthropic.claude-sonnet-4-6",
        region="ap-northeast-1",
        base_url=anthropic_server.base_url,
    )
    provider = provider_from_config(config)
    assert provider is not None and provider.name == "bedrock"
    await provider.complete(prompt)
    await provider.aclose()
    assert anthropic_server.requests[0].path == "/model/anthropic.claude-sonnet-4-6/invoke"


def test_bedrock_without_any_credentials_falls_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", f"{tmp_path}/none")
    monkeypatch.setenv("AWS_CONFIG_FILE", f"{tmp_path}/none")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    config = LLMConfig(provider="bedrock", model="anthropic.claude-sonnet-4-6", region="ap-northeast-1")
    with caplog.at_level(logging.WARNING, logger="bot.llm.factory"):
        assert provider_from_config(config) is None
    assert "no AWS credentials" in caplog.text


async def test_vertex_token_from_the_named_variable(
    anthropic_server: FakeAnthropicServer, prompt: Prompt
) -> None:
    config = LLMConfig(
        provider="vertex",
        model="claude-sonnet-4-6",
        region="asia-northeast1",
        project_id="kairan-test",
        api_key_env="VERTEX_TOKEN",
        base_url=anthropic_server.vertex_base_url,
    )
    provider = provider_from_config(config, environ={"VERTEX_TOKEN": anthropic_server.access_token})
    assert provider is not None and provider.name == "vertex"
    await provider.complete(prompt)
    await provider.aclose()
    assert anthropic_server.requests[0].path.endswith(
        "/locations/asia-northeast1/publishers/anthropic/models/claude-sonnet-4-6:rawPredict"
    )
