"""One retry policy for every provider: exponential backoff with jitter, honouring retry-after.

Retried: timeouts, connection errors, 408/409/429 and 5xx (``LLMError.retryable``).
Not retried: other 4xx. A stream is retried only while no text delta has been yielded,
so a caller never sees the same text twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from bot.llm.base import LLMError, LLMTimeout, StreamEvent, TextDelta

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2  # extra attempts after the first one
    timeout_s: float = 60.0  # complete(): whole call; stream(): first event and each gap between events
    backoff_s: float = 0.5  # first delay; doubled per attempt, with jitter
    max_backoff_s: float = 8.0
    max_retry_after_s: float = 30.0  # a longer retry-after is capped to this

    def __post_init__(self) -> None:
        if self.retries < 0 or self.timeout_s <= 0 or self.backoff_s < 0:
            raise ValueError(f"invalid retry policy {self}")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after_s)
        base = min(self.backoff_s * (2**attempt), self.max_backoff_s)
        return base * random.uniform(0.5, 1.0)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` (seconds or HTTP date); None when absent or bad."""
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(float(value) * scale, 0.0)
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is not None:
                return max(email.utils.mktime_tz(parsed) - time.time(), 0.0)
    return None


async def call_with_retries(
    policy: RetryPolicy, provider: str, attempt: Callable[[], Awaitable[T]]
) -> T:
    """Run ``attempt`` (bounded by ``policy.timeout_s``) until it succeeds or retries run out."""
    for number in range(policy.retries + 1):
        try:
            async with asyncio.timeout(policy.timeout_s):
                return await attempt()
        except TimeoutError:
            error: LLMError = LLMTimeout(
                provider, f"no answer within {policy.timeout_s:g}s", retryable=True
            )
        except LLMError as exc:
            error = exc
        if not error.retryable or number == policy.retries:
            raise _final(error, number + 1)
        await _wait(policy, provider, number, error)
    raise AssertionError("unreachable")


async def stream_with_retries(
    policy: RetryPolicy, provider: str, open_stream: Callable[[], AsyncIterator[StreamEvent]]
) -> AsyncIterator[StreamEvent]:
    """Yield from a fresh ``open_stream()`` per attempt; retry only before the first text delta."""
    for number in range(policy.retries + 1):
        yielded = False
        events = open_stream()
        try:
            while True:
                try:
                    async with asyncio.timeout(policy.timeout_s):
                        event = await anext(events)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise LLMTimeout(
                        provider, f"stream stalled for {policy.timeout_s:g}s", retryable=True
                    ) from None
                yielded = yielded or isinstance(event, TextDelta)
                yield event
        except LLMError as exc:
            if yielded or not exc.retryable or number == policy.retries:
                raise _final(exc, number + 1) from None
            error = exc
        finally:
            await _close(events)
        await _wait(policy, provider, number, error)


async def _close(events: AsyncIterator[StreamEvent]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(LLMError, RuntimeError):  # already broken: nothing to release
            await aclose()


async def _wait(policy: RetryPolicy, provider: str, number: int, error: LLMError) -> None:
    delay = policy.delay(number, error.retry_after)
    # INFO: the caller logs the outcome once (an answer after a retry, or the extractive fallback).
    log.info("%s (attempt %d of %d); retrying in %.2fs", error, number + 1, policy.retries + 1, delay)
    await asyncio.sleep(delay)


def _final(error: LLMError, attempts: int) -> LLMError:
    if attempts > 1:
        error.args = (f"{error.args[0]} (after {attempts} attempts)",)
    return error
