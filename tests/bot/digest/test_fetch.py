from __future__ import annotations

import pytest

from bot.digest.fetch import Fetcher, FetchError, ResponseTooLarge
from tests.bot.digest.conftest import fixture, local_policy
from tests.fakes.feed_server import FeedServer


async def test_conditional_get_with_etag_and_last_modified(server: FeedServer) -> None:
    server.put("/feeds/kihon.rss", fixture("nta_kihon.rss"))
    local = local_policy(server)
    async with Fetcher(host_delay_s=0) as fetcher:
        first = await fetcher.fetch(server.url("/feeds/kihon.rss"), policy=local)
        assert first.status == 200 and first.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
        assert first.etag and first.last_modified == "Tue, 01 Apr 2025 01:00:00 GMT"
        again = await fetcher.fetch(server.url("/feeds/kihon.rss"), policy=local, etag=first.etag)
        assert again.not_modified and again.body == b""
        by_date = await fetcher.fetch(
            server.url("/feeds/kihon.rss"), policy=local, last_modified=first.last_modified
        )
        assert by_date.not_modified
        server.put("/feeds/kihon.rss", fixture("nta_kihon.rss") + b"\n")  # a new version
        changed = await fetcher.fetch(server.url("/feeds/kihon.rss"), policy=local, etag=first.etag)
        assert changed.status == 200 and changed.etag != first.etag
    hits = server.hits("/feeds/kihon.rss")
    assert [(h.if_none_match is not None, h.if_modified_since is not None, h.status) for h in hits] == [
        (False, False, 200),
        (True, False, 304),
        (False, True, 304),
        (True, False, 200),
    ]


async def test_server_error_is_retried_then_raised(server: FeedServer) -> None:
    server.fail("/feeds/down.rss", "500")
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    local = local_policy(server)
    async with Fetcher(retries=2, backoff_s=0.5, host_delay_s=0, sleep=sleep) as fetcher:
        with pytest.raises(
            FetchError, match=r"GET http://127\.0\.0\.1:\d+/feeds/down\.rss: HTTP 500"
        ) as info:
            await fetcher.fetch(server.url("/feeds/down.rss"), policy=local)
    assert info.value.status == 500
    assert len(server.hits("/feeds/down.rss")) == 3
    assert sleeps == [0.5, 1.0]


async def test_not_found_is_not_retried(server: FeedServer) -> None:
    local = local_policy(server)
    async with Fetcher(retries=2, backoff_s=0, host_delay_s=0) as fetcher:
        with pytest.raises(FetchError, match="HTTP 404"):
            await fetcher.fetch(server.url("/nothing.rss"), policy=local)
    assert len(server.hits("/nothing.rss")) == 1


@pytest.mark.parametrize("failure", ["oversized", "oversized_declared"])
async def test_size_cap(server: FeedServer, failure: str) -> None:
    server.fail("/feeds/huge.xml", failure)  # type: ignore[arg-type]
    local = local_policy(server)
    async with Fetcher(retries=2, host_delay_s=0, max_bytes=256 * 1024) as fetcher:
        with pytest.raises(ResponseTooLarge, match="exceeds the 262144-byte cap"):
            await fetcher.fetch(server.url("/feeds/huge.xml"), policy=local)
    assert len(server.hits("/feeds/huge.xml")) == 1  # never retried


async def test_requests_to_one_host_are_spaced(server: FeedServer) -> None:
    server.put("/a.rss", b"<rss/>")
    server.put("/b.rss", b"<rss/>")
    now = [100.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(round(seconds, 3))
        now[0] += seconds

    local = local_policy(server)
    async with Fetcher(host_delay_s=2.0, sleep=sleep, clock=lambda: now[0]) as fetcher:
        await fetcher.fetch(server.url("/a.rss"), policy=local)
        now[0] += 0.5
        await fetcher.fetch(server.url("/b.rss"), policy=local)
        await fetcher.fetch(server.url("/a.rss"), policy=local)
    assert waits == [1.5, 2.0]
