"""The provider-neutral LLM interface: prompts, completions, stream events and errors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from bot.models import Usage


@dataclass(frozen=True)
class ChatTurn:
    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True)
class Prompt:
    """What the engine asks a provider; providers map it onto their wire format.

    ``system_fixed`` is the same for every question (instructions, rules) and is the
    part marked for prompt caching; ``system_context`` holds the numbered sources of
    this question and changes every time, so it comes after the cache breakpoint.
    """

    system_fixed: str
    system_context: str
    messages: tuple[ChatTurn, ...]
    max_tokens: int = 1500
    temperature: float = 0.0  # honoured by OpenAI-compatible servers; the Anthropic API has no such field

    def __post_init__(self) -> None:
        if not self.messages or self.messages[-1].role != "user":
            raise ValueError("Prompt.messages must be non-empty and end with a user turn")
        if self.max_tokens <= 0:
            raise ValueError(f"Prompt.max_tokens must be positive, got {self.max_tokens}")


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    stop_reason: str  # provider's own value: "end_turn", "max_tokens", "stop", "length", ...


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class StreamDone:
    completion: Completion  # the full text and the final usage


StreamEvent = TextDelta | StreamDone


class LLMError(RuntimeError):
    """A provider call failed. ``str(err)`` is an English one-liner for logs, never holding a key.

    ``retryable`` and ``retry_after`` steer the shared retry helper; ``status`` is the
    HTTP status when there was one.
    """

    def __init__(
        self,
        provider: str,
        detail: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        where = f"{provider}: HTTP {status}" if status is not None else provider
        super().__init__(f"{where}: {detail}")
        self.provider = provider
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class LLMTimeout(LLMError):
    """No (complete) answer within the configured timeout."""


class LLMUnavailable(LLMError):
    """Connection failure, 429 or 5xx (after retries), or a broken stream."""


class LLMRejected(LLMError):
    """The request itself was refused (4xx): bad key, bad model, bad request. Never retried."""


@runtime_checkable
class LLMProvider(Protocol):
    name: str  # "anthropic" | "bedrock" | "vertex" | "openai_compatible"
    model: str

    async def complete(self, prompt: Prompt) -> Completion: ...

    def stream(self, prompt: Prompt) -> AsyncIterator[StreamEvent]: ...

    async def aclose(self) -> None: ...


_KEYLIKE = re.compile(r"\b(sk-[A-Za-z0-9_-]{4})[A-Za-z0-9_*-]+|\b(Bearer\s+)\S+", re.IGNORECASE)


def scrub(text: str, *secrets: str | None, limit: int = 300) -> str:
    """Make a server-provided message safe for logs: drop secrets and key-like tokens, cap the length."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _KEYLIKE.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_error(
    provider: str, status: int, detail: str, *, retry_after: float | None = None
) -> LLMError:
    """Classify an HTTP error status: 408/409/429/5xx are transient, other 4xx are rejections."""
    if status in (408, 409, 429) or status >= 500:
        return LLMUnavailable(provider, detail, status=status, retryable=True, retry_after=retry_after)
    return LLMRejected(provider, detail, status=status)
