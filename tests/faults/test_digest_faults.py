"""``kairan digest run`` killed with SIGKILL while posting to Slack: each item reaches the channel once.

A real ``kairan digest run`` subprocess polls the fake feed server, ingests the new circulars and
posts the digest to the mock Slack Web API (``SLACK_API_URL``). The runner writes ``intent`` to
the ledger before posting and ``posted`` after; the process is killed in between:

* after Slack stored the post (the mock holds its response back, so ``posted`` is never written):
  on the next run, reconcile asks Slack (``conversations.history`` with message metadata, which
  carries the digest's marker) and records the post: nothing is posted again;
* before Slack had it (the mock delays the request; the kill lands while it waits): reconcile
  finds no such post and releases the items, which the next run posts.

Either way the channel ends with exactly one digest holding each new item once, and the restart
leaves exactly one log line (WARNING) saying what it found; no traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.digest.ledger import INTENT, POSTED, DigestLedger
from bot.state.db import default_database_url, open_database
from tests.bot.digest.conftest import NTA, drop_newest, fixture
from tests.conftest import REPO
from tests.fakes.feed_server import FeedServer
from tests.fakes.slack_api import FakeSlack

KAIRAN = str(Path(sys.executable).parent / "kairan")
CHANNEL = "C0DIGEST01"
SUBSCRIPTION = "nta-weekday"
RDF = "nta_news_shift_jis.rdf"
NEW_TITLES = {
    "消費税法基本通達の一部改正について（法令解釈通達）",
    "法人課税部門における書面添付制度の運用に当たっての基本的な考え方及び事務手続等について（事務運営指針）",
}


def write_manifest(directory: Path, feeds: FeedServer) -> Path:
    path = directory / "kairan.yaml"
    path.write_text(
        f"""version: 1
data_dir: {directory / "data"}
knowledge:
  collections:
    - name: laws
      kind: law
    - name: circulars
      kind: circular
platforms:
  slack:
    mode: http
    bot_token_env: SLACK_BOT_TOKEN
    signing_secret_env: SLACK_SIGNING_SECRET
feeds:
  - id: nta-news
    kind: rdf
    url: {feeds.url("/news.rdf")}
    collection: circulars
    internal_hosts: ["{feeds.host}"]
tenants:
  - id: yokosuka
    name: 横須賀市
    collections: [laws, circulars]
    channels:
      - platform: slack
        id: {CHANNEL}
        digests:
          - id: {SUBSCRIPTION}
            schedule: "30 8 * * mon-fri"
            sources: [nta-news]
            max_items: 5
""",
        encoding="utf-8",
    )
    return path


class DigestCommand:
    """``kairan digest run SUBSCRIPTION`` as a subprocess, against the fake feed and Slack servers."""

    def __init__(self, manifest: Path, slack: FakeSlack) -> None:
        self.args = [KAIRAN, "digest", "run", SUBSCRIPTION, "--manifest", str(manifest)]
        self.env = {
            **os.environ, "PYTHONPATH": str(REPO), "SLACK_API_URL": slack.api_url,
            "SLACK_BOT_TOKEN": "xoxb-test-0000", "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
            "COLUMNS": "200",
        }  # fmt: skip

    async def start(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *self.args, env=self.env, cwd=REPO,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    async def run(self) -> tuple[int, str, str]:
        proc = await self.start()
        out, err = await asyncio.wait_for(proc.communicate(), 180)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    async with FeedServer() as server:
        server.mirror("www.nta.go.jp", NTA)
        yield server


def digests_in_channel(slack: FakeSlack) -> list[dict[str, object]]:
    return [m for m in slack.channel_messages(CHANNEL) if (m.get("metadata") or {}).get("event_type")]


def item_titles(slack: FakeSlack) -> list[str]:
    """Every item title posted to the channel, as many times as it was posted."""
    titles = []
    for call in slack.calls_to("chat.postMessage"):
        if call.params["channel"] != CHANNEL:
            continue
        for block in call.params.get("blocks") or []:
            text = (block.get("text") or {}).get("text", "") if block.get("type") == "section" else ""
            titles += [t for t in NEW_TITLES if t in text]
    return titles


async def wait_until(predicate: object, timeout: float = 120) -> None:
    async def poll() -> None:
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def kill(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    await proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def message_of(line: str) -> str:
    """The message of a stderr log line (JSON when logging is configured, else the bare message)."""
    return str(json.loads(line)["message"]) if line.startswith("{") else line


def ledger_states(data: Path) -> list[str]:
    db = open_database(default_database_url(data))
    try:
        return [state for _, _, state in DigestLedger(db).ledger_rows(SUBSCRIPTION)]
    finally:
        db.close()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("when", ["after_slack_stored_the_post", "before_slack_had_the_post"])
async def test_sigkill_during_a_digest_post_posts_each_item_exactly_once(
    tmp_path: Path, feeds: FeedServer, when: str
) -> None:
    async with FakeSlack() as slack:
        command = DigestCommand(write_manifest(tmp_path, feeds), slack)
        data = tmp_path / "data"
        # First run: kairan sees the feed for the first time (a baseline: nothing announced).
        feeds.put("/news.rdf", drop_newest(fixture(RDF), 2), "application/rdf+xml")
        code, _, err = await command.run()
        assert code == 0, err
        assert slack.calls_to("chat.postMessage") == []
        # Two circulars are published; the next run is killed in the middle of posting them.
        feeds.put("/news.rdf", fixture(RDF), "application/rdf+xml")
        if when == "after_slack_stored_the_post":
            slack.hold_after_accept("chat.postMessage")
            proc = await command.start()
            await slack.wait_for("chat.postMessage", timeout=120)
        else:
            slack.delay("chat.postMessage", 60)
            proc = await command.start()
            await wait_until(lambda: data.joinpath("state.db").exists() and INTENT in ledger_states(data))
        await kill(proc)
        slack.release()
        slack.delay("chat.postMessage", 0)
        assert ledger_states(data) == [INTENT, INTENT]  # killed between intent and posted

        code, out, err = await command.run()  # the restart

        assert code == 0, err
        assert "Traceback" not in err
        assert len(digests_in_channel(slack)) == 1
        assert sorted(item_titles(slack)) == sorted(NEW_TITLES)  # each item once: none lost, none doubled
        assert ledger_states(data) == [POSTED, POSTED], err
        lines = [message_of(x) for x in err.splitlines() if "digest" in x]
        found = "after slack had the post" if when.startswith("after") else "before slack had the post"
        assert len(lines) == 1 and found in lines[0], err
        if when.startswith("after"):
            assert "新着なし: 0件 / nothing_new" in out
        else:
            assert "投稿済み: 2件 / posted" in out
