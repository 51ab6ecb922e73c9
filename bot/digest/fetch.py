"""HTTP fetching for digest sources: conditional GET, timeouts, retries, a size cap, politeness.

``Fetcher.fetch(url, policy=..., etag=..., last_modified=...)`` returns a ``FetchResult``
(status 200 with a body, or 304 when the validators still match) or raises ``FetchError``
naming the URL and what went wrong. Requests to the same host are spaced by at least
``host_delay_s`` seconds (measured start to start), whatever coroutine issues them.

Every request, and every redirect hop, is checked against the feed's ``SitePolicy``
(bot.digest.sites): the URL must be on an allowed site, and the address a host name
resolves to is checked at connection time (a resolver that drops internal addresses),
so a DNS answer cannot point a public name at 127.0.0.1 between a check and the connect.
One attempt takes at most ``timeout_s`` (a body that never ends is cut off and not
retried), one fetch with its retries at most ``deadline_s``.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from bot.digest.sites import SitePolicy, SiteRefused

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "kairan/0.1 (digest fetcher; municipal staff notice digests)"
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
MAX_REDIRECTS = 5
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_POLICY: contextvars.ContextVar[SitePolicy | None] = contextvars.ContextVar("site_policy", default=None)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class FetchError(Exception):
    """A URL could not be fetched (after retries); ``status`` is the last HTTP status, if any."""

    def __init__(self, message: str, *, url: str, status: int | None = None, retry: bool = True) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.retry = retry and (status is None or status in _RETRY_STATUSES)


class ResponseTooLarge(FetchError):
    """The body is larger than the fetcher's ``max_bytes``."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message, url=url, status=status, retry=False)


class FetchRefused(FetchError):
    """The feed may not reach this URL or address (SSRF protection); never retried."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message, url=url, retry=False)


class _AddressRefused(OSError):
    """Raised inside the resolver; aiohttp wraps OSErrors from name resolution."""


class _GuardedResolver(AbstractResolver):
    """Name resolution that drops addresses the current fetch's policy does not allow."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        policy = _POLICY.get() or SitePolicy(frozenset())
        kept: list[ResolveResult] = []
        refusal: SiteRefused | None = None
        for result in results:
            try:
                policy.check_address(host, port, result["host"])
            except SiteRefused as exc:
                refusal = refusal or exc
                continue
            kept.append(result)
        if not kept:
            raise _AddressRefused(str(refusal) if refusal else f"{host}: no address")
        return kept

    async def close(self) -> None:
        await self._inner.close()


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
        timeout_s: float = 30.0,
        deadline_s: float = 60.0,
        retries: int = 2,
        backoff_s: float = 1.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        host_delay_s: float = 1.0,
        user_agent: str = DEFAULT_USER_AGENT,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        if retries < 0 or max_bytes <= 0 or host_delay_s < 0 or timeout_s <= 0 or deadline_s <= 0:
            raise ValueError("retries and host_delay_s must be >= 0; max_bytes, timeout_s, deadline_s > 0")
        self._session: aiohttp.ClientSession | None = None
        self.timeout_s = timeout_s  # one attempt, body included
        self.deadline_s = max(deadline_s, timeout_s)  # one fetch, retries included
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
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(
        self,
        url: str,
        *,
        policy: SitePolicy | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> FetchResult:
        """GET ``url`` as ``policy`` allows (default: the URL's own site, public addresses only)."""
        try:
            policy = policy or SitePolicy.for_feed(url)
            policy.check_url(url)
        except (SiteRefused, ValueError) as exc:
            raise FetchRefused(f"GET {url} refused: {exc}", url=url) from None
        headers = {"User-Agent": self._user_agent, "Accept-Encoding": "gzip, deflate"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        deadline = time.monotonic() + self.deadline_s
        last_error: FetchError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                pause = self.backoff_s * 2 ** (attempt - 1)
                if time.monotonic() + pause >= deadline:
                    break
                await self._sleep(pause)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                return await self._attempt(url, headers, policy, min(self.timeout_s, remaining))
            except FetchError as exc:
                if not exc.retry:
                    raise
                last_error = exc
                log.debug("fetch attempt %d for %s failed: %s", attempt + 1, url, exc)
        if last_error is None:
            last_error = FetchError(f"GET {url}: timed out", url=url)
        raise last_error

    async def _attempt(
        self, url: str, headers: dict[str, str], policy: SitePolicy, timeout_s: float
    ) -> FetchResult:
        """One attempt, following redirects (each hop checked), within ``timeout_s`` in all."""
        token = _POLICY.set(policy)
        try:
            async with asyncio.timeout(timeout_s):
                return await self._follow(url, headers, policy)
        except TimeoutError as exc:
            # A server that sent nothing, or never finished, in the whole attempt: trying again
            # would only hold the digest as long once more.
            raise FetchError(f"GET {url}: timed out after {timeout_s:g} s", url=url, retry=False) from exc
        finally:
            _POLICY.reset(token)

    async def _follow(self, url: str, headers: dict[str, str], policy: SitePolicy) -> FetchResult:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            self._check_literal_address(url, current, policy)
            await self._polite(current)
            session = self._ensure_session()
            try:
                async with session.get(current, headers=headers, allow_redirects=False) as resp:
                    if resp.status in _REDIRECT_STATUSES and resp.headers.get("Location"):
                        target = urljoin(current, resp.headers["Location"])
                        try:
                            policy.check_url(target, redirect_from=current)
                        except SiteRefused as exc:
                            raise FetchRefused(f"GET {url} refused: {exc}", url=url) from None
                        current = target
                        continue
                    return await self._result(url, resp)
            except aiohttp.ClientConnectorDNSError as exc:
                refused = exc.os_error if isinstance(exc.os_error, _AddressRefused) else None
                if refused is not None:
                    raise FetchRefused(f"GET {url} refused: {refused}", url=url) from None
                raise FetchError(f"GET {url}: cannot resolve the host ({exc.host})", url=url) from exc
            except aiohttp.ClientError as exc:
                raise FetchError(f"GET {url}: {type(exc).__name__}: {exc}", url=url) from exc
        raise FetchError(f"GET {url}: more than {MAX_REDIRECTS} redirects", url=url, retry=False)

    def _check_literal_address(self, url: str, current: str, policy: SitePolicy) -> None:
        """An IP address in the URL is connected to without name resolution: check it here."""
        host = (urlsplit(current).hostname or "").rstrip(".")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return  # a name: the resolver checks what it resolves to
        port = urlsplit(current).port or (443 if current.lower().startswith("https:") else 80)
        try:
            policy.check_address(host, port, host)
        except SiteRefused as exc:
            raise FetchRefused(f"GET {url} refused: {exc}", url=url) from None

    async def _result(self, url: str, resp: aiohttp.ClientResponse) -> FetchResult:
        if resp.status == 304:
            validators = resp.headers.get("ETag"), resp.headers.get("Last-Modified")
            return FetchResult(url, 304, b"", None, *validators)
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
            connector = aiohttp.TCPConnector(resolver=_GuardedResolver(), use_dns_cache=False)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session
