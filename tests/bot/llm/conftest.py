"""Fixtures for the LLM provider tests: a small grounded prompt and fake AWS credentials.

The fake API servers (``anthropic_server``, ``openai_server``) live in tests/bot/conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.llm.base import ChatTurn, Prompt, StreamEvent

SYSTEM_FIXED = (
    "あなたは自治体職員を支援するアシスタントです。資料の範囲内でのみ回答し、主張ごとに[n]を付けてください。"
)
SYSTEM_CONTEXT = (
    '<source n="1" title="地方自治法" article="第二百三十八条の四" '
    'url="https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4">\n'
    "行政財産は、次項から第四項までに定めるものを除くほか、これを貸し付け、交換し、売り払い、譲与し、"
    "出資の目的とし、若しくは信託し、又はこれに私権を設定することができない。\n</source>"
)


async def collect(events: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    """Every event of a provider's stream, in order."""
    return [event async for event in events]


@pytest.fixture
def prompt() -> Prompt:
    return Prompt(
        system_fixed=SYSTEM_FIXED,
        system_context=SYSTEM_CONTEXT,
        messages=(
            ChatTurn("user", "行政財産は貸し付けできますか？"),
            ChatTurn("assistant", "原則としてできません[1]。"),
            ChatTurn("user", "例外はありますか？"),
        ),
        max_tokens=800,
    )


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> str:
    """Dummy AWS credentials in the environment (what the fake Bedrock expects); returns the key id."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFAKEFORTESTS")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in (
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_BEARER_TOKEN_BEDROCK",
        "ANTHROPIC_BEDROCK_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    return "AKIDFAKEFORTESTS"
