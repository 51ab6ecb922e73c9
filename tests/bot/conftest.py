"""Fixtures shared by the bot tests: the fake LLM API servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.llm_servers import FakeAnthropicServer, FakeOpenAIServer


@pytest.fixture
async def anthropic_server() -> AsyncIterator[FakeAnthropicServer]:
    async with FakeAnthropicServer(api_key="test-key") as server:
        yield server


@pytest.fixture
async def openai_server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer(api_key="test-key") as server:
        yield server
