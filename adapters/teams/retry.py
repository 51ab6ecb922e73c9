"""Bounded retries for Bot Connector posts: 429 and 5xx, honouring Retry-After.

The Agents SDK posts an activity once and raises ``aiohttp.ClientResponseError`` on any
non-2xx answer (logging an ERROR line of its own each time). ``send_with_retry`` tries again
on 429 and 5xx (Teams throttles bots per conversation and asks for Retry-After), up to
``MAX_RETRIES`` times, with one INFO line per retry; the final error reaches the caller, who
logs the outcome once. ``quiet_sdk_connector_errors`` drops the SDK's per-attempt line.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core import TurnContext

log = logging.getLogger(__name__)

MAX_RETRIES = 3
BACKOFF_S = 0.5  # first delay without Retry-After; doubled per attempt
MAX_DELAY_S = 30.0  # a longer Retry-After is capped to this
SDK_CONNECTOR_LOGGER = "microsoft_agents.hosting.core.connector.client.connector_client"


def retryable(status: int) -> bool:
    return status == 429 or status >= 500


class TeamsDeliveryError(RuntimeError):
    """A proactive post could not be made (no stored reference, bot removed, connector error).

    ``retryable``: a later attempt may succeed (HTTP 429/5xx, or the connector was unreachable).
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def failure_is_retryable(exc: BaseException) -> bool:
    """An outage rather than a refusal: 429/5xx after the retries, or the connector unreachable."""
    if isinstance(exc, aiohttp.ClientResponseError):
        return retryable(exc.status)
    return isinstance(exc, aiohttp.ClientConnectionError | TimeoutError)


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or HTTP date); None when absent or bad."""
    value = (headers or {}).get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        return None if parsed is None else max(email.utils.mktime_tz(parsed) - time.time(), 0.0)


def delay_for(attempt: int, headers: Mapping[str, str] | None, *, backoff_s: float = BACKOFF_S) -> float:
    given = retry_after(headers)
    return min(given if given is not None else backoff_s * (2**attempt), MAX_DELAY_S)


async def send_with_retry(
    context: TurnContext, activity: Activity, *, retries: int = MAX_RETRIES, backoff_s: float = BACKOFF_S
) -> Any:
    """``context.send_activity(activity)``, retried on 429/5xx; returns its ResourceResponse."""
    for attempt in range(retries + 1):
        try:
            return await context.send_activity(activity)
        except aiohttp.ClientResponseError as exc:
            if not retryable(exc.status) or attempt == retries:
                raise
            delay = delay_for(attempt, exc.headers, backoff_s=backoff_s)
            log.info(
                "Teams connector answered HTTP %s to a %s activity; retry %d of %d in %.1fs",
                exc.status,
                activity.type,
                attempt + 1,
                retries,
                delay,
            )
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


class _DropConnectorErrorLines(logging.Filter):
    """The SDK logs ``Error accessing '<resource>': <status>`` before raising; kairan logs the outcome."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Error accessing '", "Bad request for '"))


_FILTER = _DropConnectorErrorLines()


def quiet_sdk_connector_errors() -> None:
    """Install the filter once on the SDK's connector logger."""
    logger = logging.getLogger(SDK_CONNECTOR_LOGGER)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
