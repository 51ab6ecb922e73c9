"""Shared helpers for digest tests: fixture feeds, the fake feed server, a runner factory."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from bot.digest.config import FeedSource, Subscription
from bot.digest.fetch import Fetcher
from bot.digest.runner import DigestRunner, RunResult
from bot.digest.sites import SitePolicy
from bot.digest.summarise import Summariser
from bot.models import ConversationRef
from bot.state.db import Database, open_database
from knowledge.parsers.charset import charset_from_xml_declaration, codec_name
from tests.conftest import CORPUS
from tests.fakes.adapters import RecordingAdapter
from tests.fakes.feed_server import FeedServer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "feeds"
NTA = CORPUS / "circulars" / "nta"
REF = ConversationRef(platform="console", tenant="yokosuka", channel="C-SOUMU")


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def drop_newest(data: bytes, n: int) -> bytes:
    """The same feed as it looked before its ``n`` newest items were published (same charset)."""
    label = charset_from_xml_declaration(data) or "utf-8"
    codec = codec_name(label) or "utf-8"
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", data.decode(codec))  # CP932 too (libxml2 cannot)
    root = etree.fromstring(text)
    ns = {"rss1": "http://purl.org/rss/1.0/", "atom": "http://www.w3.org/2005/Atom"}
    items = root.findall("rss1:item", ns) or root.findall("channel/item") or root.findall("atom:entry", ns)
    for item in items[:n]:
        item.getparent().remove(item)
    declaration = f'<?xml version="1.0" encoding="{label}"?>\n'
    return (declaration + etree.tostring(root, encoding="unicode")).encode(codec)


class Clock:
    """A controllable UTC clock for the runner."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    async with FeedServer() as srv:
        srv.mirror("www.nta.go.jp", NTA)
        yield srv


@pytest.fixture
def db(state_url: str) -> Iterator[Database]:
    """The state DB on SQLite and on PostgreSQL (``state_url``, tests/fakes/postgres.py)."""
    database = open_database(state_url)
    yield database
    database.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 4, 1, 0, 0, tzinfo=UTC))


def local_policy(server: FeedServer) -> SitePolicy:
    """The fake server's site, named as an on-premises host (it listens on 127.0.0.1)."""
    return SitePolicy.for_feed(server.base_url, internal_hosts=[server.host])


def local_feed(server: FeedServer, feed_id: str, kind: str, path: str) -> FeedSource:
    """A feed at ``path`` on the fake server (named as an on-premises host)."""
    return FeedSource(
        id=feed_id, kind=kind, url=server.url(path), collection="circulars",  # type: ignore[arg-type]
        internal_hosts=(server.host,),
    )  # fmt: skip


async def publish_after_baseline(
    server: FeedServer, runner: DigestRunner, path: str, data: bytes, *, hidden: int
) -> RunResult:
    """Serve the feed without its ``hidden`` newest items, run (the baseline), serve it whole, run."""
    server.put(path, drop_newest(data, hidden))
    baseline = await runner.run(next(iter(runner.subscriptions)))
    assert baseline.polls[0].error is None and baseline.polls[0].baseline
    server.put(path, data)
    return await runner.run(next(iter(runner.subscriptions)))


def rdf_feed(server: FeedServer) -> FeedSource:
    return FeedSource(
        id="nta-news", kind="rdf", url=server.url("/news.rdf"), collection="circulars", category="国税庁",
        internal_hosts=(server.host,),
    )


def rss_feed(server: FeedServer) -> FeedSource:
    return FeedSource(
        id="nta-kihon", kind="rss", url=server.url("/feeds/kihon.rss"), collection="circulars",
        internal_hosts=(server.host,),
    )


def atom_feed(server: FeedServer) -> FeedSource:
    return FeedSource(
        id="nta-sozoku", kind="atom", url=server.url("/feeds/sozoku.atom"), collection="circulars",
        internal_hosts=(server.host,),
    )


def subscription(sub_id: str = "soumu-weekday", **kwargs: object) -> Subscription:
    values: dict[str, object] = {"ref": REF, "schedule": "30 8 * * mon-fri", "sources": ()}
    values.update(kwargs)
    return Subscription(id=sub_id, **values)  # type: ignore[arg-type]


RunnerFactory = Callable[..., DigestRunner]


@pytest.fixture
async def make_runner(db: Database, clock: Clock) -> AsyncIterator[RunnerFactory]:
    """Build runners on the same database (a new runner = a restarted process)."""
    fetchers: list[Fetcher] = []

    def build(
        feeds: list[FeedSource],
        subs: list[Subscription],
        adapter: RecordingAdapter | None = None,
        **kwargs: object,
    ) -> DigestRunner:
        fetcher = kwargs.pop("fetcher", None) or Fetcher(
            retries=1, backoff_s=0, host_delay_s=0, max_bytes=1024 * 1024
        )
        assert isinstance(fetcher, Fetcher)
        fetchers.append(fetcher)
        options: dict[str, object] = {"summariser": Summariser(), "clock": clock}
        options.update(kwargs)
        return DigestRunner(
            db=db,
            feeds=feeds,
            subscriptions=subs,
            adapters={"console": adapter} if adapter is not None else {},
            fetcher=fetcher,
            **options,  # type: ignore[arg-type]
        )

    yield build
    for fetcher in fetchers:
        await fetcher.close()


class ThreadedFeedServer:
    """The fake feed server on its own event loop, for CLI commands that call asyncio.run."""

    def __init__(self) -> None:
        self.server = FeedServer()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> FeedServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.__aenter__(), self.loop).result(10)
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.__aexit__(None, None, None), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with ThreadedFeedServer() as server:
        server.mirror("www.nta.go.jp", NTA)
        yield server


def write_manifest(
    tmp_path: Path,
    server: FeedServer,
    *,
    feed: tuple[str, str, str] = ("nta-news", "rdf", "/news.rdf"),  # id, kind, path on the server
    channel: tuple[str, str] = ("console", "console"),  # platform, channel id
    digest: str = "nta-weekday",
    max_items: int = 5,
) -> Path:
    """A manifest with one feed on the fake server and one digest of it in one channel."""
    feed_id, kind, feed_path = feed
    platform, channel_id = channel
    platforms = "" if platform == "console" else f"platforms:\n  {platform}:\n    mode: socket\n"
    path = tmp_path / "kairan.yaml"
    path.write_text(
        f"""version: 1
data_dir: ./data
knowledge:
  collections:
    - name: laws
      kind: law
    - name: circulars
      kind: circular
{platforms}feeds:
  - id: {feed_id}
    kind: {kind}
    url: {server.url(feed_path)}
    collection: circulars
    internal_hosts: ["{server.host}"]
tenants:
  - id: yokosuka
    name: 横須賀市
    collections: [laws, circulars]
    channels:
      - platform: {platform}
        id: {channel_id}
        digests:
          - id: {digest}
            schedule: "30 8 * * mon-fri"
            sources: [{feed_id}]
            max_items: {max_items}
""",
        encoding="utf-8",
    )
    return path
