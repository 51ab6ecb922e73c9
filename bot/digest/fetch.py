"""HTTP fetching for digest sources: conditional GET, timeouts, retries, a size cap, politeness.

``Fetcher.fetch(url, etag=..., last_modified=...)`` returns a ``FetchResult`` (status
200 with a body, or 304 when the validators still match) or raises ``FetchError``
naming the URL and what went wrong. Requests to the same host are spaced by at least
``host_delay_s`` seconds (measured start to start), whatever coroutine issues them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import aiohttp

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "kairan/0.1 (digest fetcher; municipal staff notice digests)"
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class FetchError(Exception):
    """A URL could not be fetched (after retries); ``status`` is the last HTTP status, if any."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class ResponseTooLarge(FetchError):
    """The body is larger than the fetcher's ``max_bytes``."""


@dataclass(frozen=True)
class FetchResult:
    url: str
    status: int  # 200 or 304
    body: bytes  # b"" for 304
    content_type: str | None
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class Fetcher:
    """An aiohttp GET client for feeds and documents. Use ``async with Fetcher() as f:``."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 30.0,
        retries: int = 2,
        backoff_s: float = 1.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        host_delay_s: float = 1.0,
        user_agent: str = DEFAULT_USER_AGENT,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        if retries < 0 or max_bytes <= 0 or host_delay_s < 0:
            raise ValueError("retries and host_delay_s must be >= 0, max_bytes > 0")
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_s * 4, sock_connect=timeout_s, sock_read=timeout_s
        )
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_bytes = max_bytes
        self.host_delay_s = host_delay_s
        self._user_agent = user_agent
        self._sleep = sleep
        self._clock = clock
        self._host_locks: dict[str, asyncio.Lock] = {}
        self._host_last: dict[str, float] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        headers = {"User-Agent": self._user_agent, "Accept-Encoding": "gzip, deflate"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        last_error: FetchError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                await self._sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                return await self._attempt(url, headers)
            except ResponseTooLarge:
                raise
            except FetchError as exc:
                if exc.status is not None and exc.status not in _RETRY_STATUSES:
                    raise
                last_error = exc
                log.debug("fetch attempt %d for %s failed: %s", attempt + 1, url, exc)
        assert last_error is not None
        raise last_error

    async def _attempt(self, url: str, headers: dict[str, str]) -> FetchResult:
        await self._polite(url)
        session = self._ensure_session()
        try:
            async with session.get(url, headers=headers, timeout=self._timeout, allow_redirects=True) as resp:
                if resp.status == 304:
                    return FetchResult(
                        url, 304, b"", None, resp.headers.get("ETag"), resp.headers.get("Last-Modified")
                    )
                if resp.status != 200:
                    raise FetchError(f"GET {url}: HTTP {resp.status}", url=url, status=resp.status)
                body = await self._read_capped(resp, url)
                return FetchResult(
                    url=url,
                    status=200,
                    body=body,
                    content_type=resp.headers.get("Content-Type"),
                    etag=resp.headers.get("ETag"),
                    last_modified=resp.headers.get("Last-Modified"),
                )
        except TimeoutError as exc:
            raise FetchError(f"GET {url}: timed out", url=url) from exc
        except aiohttp.ClientError as exc:
            raise FetchError(f"GET {url}: {type(exc).__name__}: {exc}", url=url) from exc

    async def _read_capped(self, resp: aiohttp.ClientResponse, url: str) -> bytes:
        declared = resp.content_length
        if declared is not None and declared > self.max_bytes:
            raise ResponseTooLarge(
                f"GET {url}: body of {declared} bytes exceeds the {self.max_bytes}-byte cap",
                url=url,
                status=200,
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self.max_bytes:
                raise ResponseTooLarge(
                    f"GET {url}: body exceeds the {self.max_bytes}-byte cap", url=url, status=200
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def _polite(self, url: str) -> None:
        """Wait until ``host_delay_s`` has passed since the previous request to the same host."""
        host = (urlsplit(url).hostname or "").lower()
        lock = self._host_locks.setdefault(host, asyncio.Lock())
        async with lock:
            last = self._host_last.get(host)
            if last is not None:
                wait = last + self.host_delay_s - self._clock()
                if wait > 0:
                    await self._sleep(wait)
            self._host_last[host] = self._clock()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session
