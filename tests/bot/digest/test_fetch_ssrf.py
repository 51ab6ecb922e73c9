"""Digest fetching reaches only the feed's own site and the hosts the admin names (issue 16 #3)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.digest.config import FeedSource
from bot.digest.fetch import Fetcher, FetchError, FetchRefused, SitePolicy
from knowledge.ingest import Ingestor
from knowledge.store import KnowledgeStore
from tests.bot.digest.conftest import RunnerFactory, subscription
from tests.fakes.adapters import RecordingAdapter
from tests.fakes.feed_server import FeedServer

SECRET = b"<html><head><title>internal admin</title></head><body><p>secret token 12345</p></body></html>"
NOTICE = (
    "<html><head><title>お知らせ</title></head><body><h1>事務連絡</h1>"
    "<p>令和7年4月1日から新しい様式を使用してください。</p></body></html>"
).encode()


def rss(*links: str) -> bytes:
    items = "".join(
        f"<item><title>お知らせ{n}</title><link>{link}</link>"
        "<pubDate>Tue, 01 Apr 2025 10:00:00 +0900</pubDate></item>"
        for n, link in enumerate(links, 1)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>{{base}}/</link>{items}</channel></rss>"
    ).encode()


@pytest.fixture
async def internal() -> AsyncIterator[FeedServer]:
    """Another service on 127.0.0.1 (another port): what a hostile feed tries to reach."""
    async with FeedServer() as srv:
        srv.put("/admin", SECRET, "text/html")
        yield srv


def local_feed(server: FeedServer, **kwargs: object) -> FeedSource:
    """A feed served by the test server, named in the manifest as an on-premises host."""
    values: dict[str, object] = {
        "id": "town-news",
        "kind": "rss",
        "url": server.url("/feed.rss"),
        "collection": "circulars",
        "internal_hosts": (server.host,),
    }
    values.update(kwargs)
    return FeedSource(**values)  # type: ignore[arg-type]


async def test_item_links_and_redirects_to_other_ports_are_not_fetched(
    server: FeedServer, internal: FeedServer, make_runner: RunnerFactory, tmp_path: Path
) -> None:
    server.put("/notice.html", NOTICE, "text/html")
    server.redirect("/moved.html", internal.url("/admin"))
    server.put("/feed.rss", rss(internal.url("/admin"), "{base}/moved.html", "{base}/notice.html"))
    store = KnowledgeStore(tmp_path / "kb")
    adapter = RecordingAdapter()
    runner = make_runner(
        [local_feed(server)], [subscription()], adapter,
        ingestor=Ingestor(store=store, workers=1), announce_existing=True,
    )
    await runner.run("soumu-weekday")
    assert internal.requests == []  # neither the link nor the redirect reached the other port
    texts = " ".join(r["text"] for r in store.chunks.to_arrow().to_pylist())
    assert "新しい様式" in texts and "secret" not in texts
    assert not any("secret" in item.summary for digest in adapter.digests for item in digest.items)


async def test_fetcher_refuses_what_the_policy_does_not_allow(
    server: FeedServer, internal: FeedServer
) -> None:
    server.put("/feed.rss", rss())
    own = SitePolicy.for_feed(server.url("/feed.rss"), internal_hosts=[server.host])
    async with Fetcher(host_delay_s=0, retries=2, backoff_s=0) as fetcher:
        assert (await fetcher.fetch(server.url("/feed.rss"), policy=own)).status == 200
        cases = {
            internal.url("/admin"): "not allowed for this feed",  # another port: another site
            "file:///etc/passwd": "only http and https",
            "http://169.254.169.254/latest/meta-data/": "not allowed for this feed",
        }
        for url, reason in cases.items():
            with pytest.raises(FetchRefused, match=reason):
                await fetcher.fetch(url, policy=own)
        # Without a policy a URL may reach only its own site, and never an internal address.
        with pytest.raises(FetchRefused, match=r"127\.0\.0\.1 is a loopback address"):
            await fetcher.fetch(internal.url("/admin"))
        metadata = SitePolicy.for_feed("http://169.254.169.254/x", internal_hosts=["169.254.169.254"])
        with pytest.raises(FetchRefused, match="metadata"):
            await fetcher.fetch("http://169.254.169.254/latest/meta-data/", policy=metadata)
    assert internal.requests == []


async def test_a_host_name_is_checked_after_dns_resolution(internal: FeedServer) -> None:
    """``localhost`` is a name, not an address: it is refused once it resolves to loopback."""
    port = internal.host.rsplit(":", 1)[1]
    url = f"http://localhost:{port}/admin"
    async with Fetcher(host_delay_s=0, retries=0) as fetcher:
        with pytest.raises(FetchRefused, match=r"localhost resolves to .*loopback"):
            await fetcher.fetch(url, policy=SitePolicy.for_feed(url))
        assert internal.requests == []
        named = SitePolicy.for_feed(url, internal_hosts=[f"localhost:{port}"])  # an on-premises mirror
        assert (await fetcher.fetch(url, policy=named)).body == SECRET


async def test_a_redirect_is_checked_like_the_first_request(server: FeedServer, internal: FeedServer) -> None:
    server.redirect("/go", internal.url("/admin"))
    server.put("/here.rss", rss())
    server.redirect("/stay", "/here.rss")
    policy = SitePolicy.for_feed(server.url("/feed.rss"), internal_hosts=[server.host])
    async with Fetcher(host_delay_s=0, retries=0) as fetcher:
        with pytest.raises(FetchRefused, match="redirect"):
            await fetcher.fetch(server.url("/go"), policy=policy)
        assert (await fetcher.fetch(server.url("/stay"), policy=policy)).status == 200
    assert internal.requests == []


async def test_allowed_hosts_extend_the_feed_site(server: FeedServer, internal: FeedServer) -> None:
    policy = SitePolicy.for_feed(
        server.url("/feed.rss"), allowed_hosts=[internal.host], internal_hosts=[server.host, internal.host]
    )
    async with Fetcher(host_delay_s=0, retries=0) as fetcher:
        assert (await fetcher.fetch(internal.url("/admin"), policy=policy)).body == SECRET


async def test_a_never_ending_feed_is_cut_off(server: FeedServer) -> None:
    server.fail("/endless.rss", "endless")
    policy = SitePolicy.for_feed(server.url("/endless.rss"), internal_hosts=[server.host])
    started = time.monotonic()
    async with Fetcher(host_delay_s=0, timeout_s=1.0, retries=2, backoff_s=0) as fetcher:
        with pytest.raises(FetchError, match="timed out"):
            await fetcher.fetch(server.url("/endless.rss"), policy=policy)
    assert time.monotonic() - started < 2.5  # one attempt's time, not retried: a stream that never ends


def test_the_default_budget_of_one_fetch_is_under_a_minute() -> None:
    fetcher = Fetcher()
    assert fetcher.deadline_s <= 60


async def test_documents_that_never_end_do_not_hold_the_digest(
    server: FeedServer, make_runner: RunnerFactory
) -> None:
    """Each endless document is cut off; past the per-poll budget the rest wait for the next poll."""
    for n in range(1, 6):
        server.fail(f"/endless{n}.html", "endless")
    server.put("/feed.rss", rss(*(f"{{base}}/endless{n}.html" for n in range(1, 6))))
    fetcher = Fetcher(timeout_s=0.5, retries=1, backoff_s=0, host_delay_s=0)
    runner = make_runner(
        [local_feed(server)], [subscription()], RecordingAdapter(),
        fetcher=fetcher, announce_existing=True, documents_budget_s=1.2,
    )
    started = time.monotonic()
    await runner.run("soumu-weekday")
    assert time.monotonic() - started < 4  # not five documents x (every attempt) x the timeout
    left = await asyncio.to_thread(runner.ledger.unprocessed, "town-news")
    assert 0 < len(left) < 5  # the rest are fetched by a later poll
