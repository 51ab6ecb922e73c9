"""``kairan digest run --dry-run`` shows exactly the digest that would be posted, and what would wait.

A dry run starts no chat adapter, so it used to ignore the platform's own limit per post (Slack: 24
items in one message's 50 blocks) and listed every new item; the post then carried 24.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.logo.adapter import LogoAdapter
from adapters.logo.platform import LOGO
from adapters.slack.app import SlackAdapter
from adapters.slack.platform import SLACK
from adapters.spec import PlatformSpec
from adapters.teams.adapter import TeamsAdapter
from adapters.teams.platform import TEAMS
from kairan.digest_cli import digest_group
from tests.bot.digest.conftest import write_manifest
from tests.fakes.adapters import RecordingAdapter
from tests.fakes.feed_server import FeedServer

NEW_ITEMS = 30


@dataclass
class ItemLimitedRecordingAdapter(RecordingAdapter):
    """A recording adapter that shows at most ``max_digest_items`` items in one post (LimitsDigestItems)."""

    max_digest_items: int = field(kw_only=True)


def soumu_feed(items: int) -> bytes:
    """An RSS 2.0 feed of ``items`` notices (newest first), linking to 総務省's own site.

    The fake server is not www.soumu.go.jp, so the documents are not fetched: each item is
    announced with its feed description, which keeps the test fast.
    """
    entries = "".join(
        f"<item><title>通知{n:02d}号について</title>"
        f"<link>https://www.soumu.go.jp/menu_news/s-news/01gyosei{n:02d}.html</link>"
        f"<pubDate>Tue, 01 Apr 2025 {n % 24:02d}:00:00 +0900</pubDate>"
        f"<description>第{n}号の通知です。</description></item>"
        for n in range(items, 0, -1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>総務省 新着</title>'
        f"<link>https://www.soumu.go.jp/</link>{entries}</channel></rss>"
    ).encode()


def listed_titles(output: str) -> list[str]:
    return [line.split(". ", 1)[1] for line in output.splitlines() if line[:1].isdigit() and ". " in line]


def test_the_dry_run_shows_what_the_slack_post_carries_and_how_many_wait(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    manifest = write_manifest(
        tmp_path, feed_server, feed=("soumu", "rss", "/soumu.rss"), channel=("slack", "C0SOUMU"),
        digest="soumu-daily", max_items=50,
    )  # fmt: skip
    args = ["--manifest", str(manifest)]
    cli = CliRunner()
    feed_server.put("/soumu.rss", soumu_feed(0))
    assert cli.invoke(digest_group, ["run", "soumu-daily", "--dry-run", *args]).exit_code == 0  # baseline
    feed_server.put("/soumu.rss", soumu_feed(NEW_ITEMS))

    preview = cli.invoke(digest_group, ["run", "soumu-daily", "--dry-run", *args])
    assert preview.exit_code == 0, preview.output
    per_post = SlackAdapter.max_digest_items
    assert f"【新着通知】soumu-daily（{per_post}件）" in preview.stdout
    assert f"ほか{NEW_ITEMS - per_post}件は次回以降の配信に回ります" in preview.stdout
    shown = listed_titles(preview.stdout)
    assert len(shown) == per_post

    adapter = ItemLimitedRecordingAdapter(max_digest_items=per_post)  # as the Slack adapter shows them
    posted = cli.invoke(digest_group, ["run", "soumu-daily", *args], obj={"adapters": {"slack": adapter}})
    assert posted.exit_code == 0, posted.output
    assert [i.title for i in adapter.digests[0].items] == shown  # exactly what the preview listed
    assert f"ほか{NEW_ITEMS - per_post}件は次回以降の配信に回ります" in posted.stdout

    rest = cli.invoke(digest_group, ["run", "soumu-daily", "--dry-run", *args])
    assert f"【新着通知】soumu-daily（{NEW_ITEMS - per_post}件）" in rest.stdout
    assert "次回以降" not in rest.stdout


@pytest.mark.parametrize(
    ("spec", "adapter_class"), [(SLACK, SlackAdapter), (LOGO, LogoAdapter), (TEAMS, TeamsAdapter)]
)
def test_a_platform_spec_knows_its_adapters_limit_without_building_it(
    spec: PlatformSpec, adapter_class: type
) -> None:
    assert spec.max_digest_items == getattr(adapter_class, "max_digest_items", None)
