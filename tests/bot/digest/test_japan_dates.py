"""Dates shown to staff are Japan dates: an Atom ``Z`` time after 15:00 UTC is the next day in Tokyo."""

from __future__ import annotations

from dataclasses import replace

from bot.digest.compose import Candidate, compose, render_text
from bot.digest.feeds import japan_date
from tests.bot.digest.conftest import (
    RunnerFactory,
    fixture,
    local_feed,
    publish_after_baseline,
    subscription,
)
from tests.fakes.adapters import RecordingAdapter
from tests.fakes.feed_server import FeedServer

ATOM = "nta_sozoku_utc.atom"
ITEM = Candidate(
    source_id="s", item_id="1", title="通知", url="https://x/1.htm", summary="", category="",
    published="2025-03-31T20:00:00+00:00", source_name="s", seen_at="2025-04-01T00:00:00.000000Z",
)  # fmt: skip


def test_japan_date_of_feed_values() -> None:
    assert japan_date("2025-03-31T20:00:00+00:00") == "2025-04-01"  # 05:00 on 1 April in Tokyo
    assert japan_date("2025-03-31T14:59:59+00:00") == "2025-03-31"
    assert japan_date("2025-04-01T00:30:00+09:00") == "2025-04-01"
    assert japan_date("2025-04-01T10:00:00-05:00") == "2025-04-02"
    assert japan_date("2025-04-01") == "2025-04-01"  # a date stays the date the publisher wrote
    assert japan_date("") == ""


def test_the_digest_and_its_text_show_the_tokyo_date() -> None:
    later = replace(ITEM, item_id="2", url="https://x/2.htm", title="後の通知", published="2025-04-01T10:00")
    digest, _ = compose("sub", [ITEM, later])
    # Both were published on 1 April in Tokyo; the later one (by time) is listed first.
    shown = [(i.title, i.published) for i in digest.items]
    assert shown == [("後の通知", "2025-04-01"), ("通知", "2025-04-01")]
    assert "   2025-04-01 s" in render_text(digest)


async def test_an_atom_feed_in_utc_is_announced_with_japan_dates(
    server: FeedServer, make_runner: RunnerFactory
) -> None:
    adapter = RecordingAdapter()
    runner = make_runner([local_feed(server, "nta-sozoku", "atom", "/a.atom")], [subscription()], adapter)
    result = await publish_after_baseline(server, runner, "/a.atom", fixture(ATOM), hidden=3)
    assert result.status == "posted"
    assert [(i.title, i.published) for i in adapter.digests[0].items] == [
        ("第38条《延納の要件》関係", "2025-04-02"),  # 2025-04-01T15:00:00Z
        ("第27条《相続税の申告書》関係", "2025-04-01"),  # 2025-03-31T22:30:00Z
        ("第23条《地上権及び永小作権の評価》関係", "2025-03-31"),  # 2025-03-31T00:00:00Z
    ]
