from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from kairan.digest_cli import digest_group
from tests.bot.digest.conftest import drop_newest, fixture, write_manifest
from tests.fakes.adapters import RecordingAdapter
from tests.fakes.feed_server import FeedServer


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
