from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from kairan.digest_cli import digest_group
from tests.bot.digest.conftest import NTA, drop_newest, fixture
from tests.fakes.adapters import RecordingAdapter
from tests.fakes.feed_server import FeedServer


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


def write_manifest(tmp_path: Path, server: FeedServer) -> Path:
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
feeds:
  - id: nta-news
    kind: rdf
    url: {server.url("/news.rdf")}
    collection: circulars
    internal_hosts: ["{server.host}"]
tenants:
  - id: yokosuka
    name: 横須賀市
    collections: [laws, circulars]
    channels:
      - platform: console
        id: console
        digests:
          - id: nta-weekday
            schedule: "30 8 * * mon-fri"
            sources: [nta-news]
            max_items: 5
""",
        encoding="utf-8",
    )
    return path


def test_dry_run_then_run_then_status(tmp_path: Path, feed_server: FeedServer) -> None:
    manifest = write_manifest(tmp_path, feed_server)
    feed_server.put("/news.rdf", drop_newest(fixture("nta_news_shift_jis.rdf"), 2))
    cli = CliRunner()
    args = ["--manifest", str(manifest)]

    baseline = cli.invoke(digest_group, ["run", "nta-weekday", "--dry-run", *args])
    assert baseline.exit_code == 0, baseline.output
    assert "【新着通知】nta-weekday: 新着はありません。" in baseline.stdout

    feed_server.put("/news.rdf", fixture("nta_news_shift_jis.rdf"))
    preview = cli.invoke(digest_group, ["run", "nta-weekday", "--dry-run", *args])
    assert preview.exit_code == 0, preview.output
    assert "【新着通知】nta-weekday（2件）" in preview.stdout
    assert "1. 消費税法基本通達の一部改正について（法令解釈通達）" in preview.stdout
    assert "投稿していません" in preview.stdout

    adapter = RecordingAdapter()
    posted = cli.invoke(digest_group, ["run", "nta-weekday", *args], obj={"adapters": {"console": adapter}})
    assert posted.exit_code == 0, posted.output
    assert "投稿済み: 2件" in posted.stdout
    assert len(adapter.digests) == 1 and len(adapter.digests[0].items) == 2

    status = cli.invoke(digest_group, ["status", *args], env={"COLUMNS": "200"})
    assert status.exit_code == 0, status.output
    row = next(line for line in status.stdout.splitlines() if "nta-weekday" in line)
    cells = [c.strip() for c in row.split("│")[1:-1]]
    assert cells[0] == "nta-weekday" and cells[1] == "console:console" and cells[4] == "posted (2)"
    assert cells[6:] == ["0", "0"]  # nothing pending, nothing in doubt
    assert cells[5].endswith("08:30")  # next run (Asia/Tokyo)


def test_unknown_subscription(tmp_path: Path, feed_server: FeedServer) -> None:
    manifest = write_manifest(tmp_path, feed_server)
    result = CliRunner().invoke(digest_group, ["run", "nope", "--dry-run", "--manifest", str(manifest)])
    assert result.exit_code == 1
    assert "no digest subscription 'nope'" in result.output
