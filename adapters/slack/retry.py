"""Bounded retries for Slack Web API calls: connection errors, 429 (after Retry-After) and 5xx.

slack_sdk's built-in handlers retry silently and only on 500/503; these subclasses also retry
502/504 and leave one INFO line per retry, naming the method and the status. A call that still
fails raises ``SlackApiError`` (or the connection error) to the caller, who logs the outcome once.
"""

from __future__ import annotations

import logging

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

log = logging.getLogger(__name__)

RATE_LIMIT_RETRIES = 3
SERVER_ERROR_RETRIES = 2
CONNECTION_RETRIES = 1
SERVER_ERROR_STATUSES = frozenset({500, 502, 503, 504})


def method_of(url: str) -> str:
    """``chat.postMessage`` from ``https://slack.com/api/chat.postMessage``."""
    return url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


def _note(handler: AsyncRetryHandler, state: RetryState, request: HttpRequest, what: str) -> None:
    log.info(
        "Slack %s: %s; retry %d of %d",
        method_of(request.url),
        what,
        state.current_attempt + 1,
        handler.max_retry_count,
    )


class _Logged(AsyncRetryHandler):
    """Mixin: one INFO line per retry, saying what went wrong, before the SDK's own wait."""

    def _what(self, response: HttpResponse | None, error: Exception | None) -> str:
        raise NotImplementedError

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        _note(self, state, request, self._what(response, error))
        await super().prepare_for_next_attempt_async(
            state=state, request=request, response=response, error=error
        )


class _LoggedConnectionErrors(_Logged, AsyncConnectionErrorRetryHandler):
    def _what(self, response: HttpResponse | None, error: Exception | None) -> str:
        return f"connection failed ({type(error).__name__})"


class _LoggedRateLimits(_Logged, AsyncRateLimitErrorRetryHandler):
    def _what(self, response: HttpResponse | None, error: Exception | None) -> str:
        retry_after = None
        if response is not None:
            retry_after = next(
                (v[0] for k, v in response.headers.items() if k.lower() == "retry-after"), None
            )
        return f"rate limited (HTTP 429, Retry-After {retry_after or '-'})"


class _LoggedServerErrors(_Logged, AsyncServerErrorRetryHandler):
    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code in SERVER_ERROR_STATUSES

    def _what(self, response: HttpResponse | None, error: Exception | None) -> str:
        return f"server error (HTTP {response.status_code if response is not None else '?'})"


def retry_handlers() -> list[AsyncRetryHandler]:
    """Connection errors once, 429 up to three times (after Retry-After), 5xx twice with backoff."""
    return [
        _LoggedConnectionErrors(max_retry_count=CONNECTION_RETRIES),
        _LoggedRateLimits(max_retry_count=RATE_LIMIT_RETRIES),
        _LoggedServerErrors(max_retry_count=SERVER_ERROR_RETRIES),
    ]
