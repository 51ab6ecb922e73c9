"""Two kairan processes on one PostgreSQL state database: nothing answered or posted twice.

(a) Two ``kairan serve`` replicas receive the same signed Slack event at the same moment (Slack's
retry landing on the other replica): the mock Slack API sees one answer. (b) Two ``kairan digest
run`` processes fire the same subscription at once: each new circular is posted exactly once.

Both configure the state database the way an operator does: ``state.url_env`` in the manifest
naming an environment variable that holds the PostgreSQL URL.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from click.testing import CliRunner

from kairan.digest_cli import digest_group
from tests.adapters.slack.conftest import BOT_TOKEN, GYOSEI_TETSUZUKI_XML, SIGNING_SECRET, load_fixture, sign
from tests.bot.digest.conftest import NTA, drop_newest, fixture
from tests.fakes.feed_server import FeedServer
from tests.fakes.knowledge_base import law_kb
from tests.fakes.local_http import free_port
from tests.fakes.slack_api import FakeSlack

KAIRAN = Path(sys.executable).with_name("kairan")
STATE_ENV = "KAIRAN_TEST_STATE_URL"
CHANNEL = "C0SOUMU001"
DIGEST_CHANNEL = "C0DIGEST01"
START_TIMEOUT_S = 90


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path) -> Path:
    """A small shared knowledge base (one law) that both replicas read."""
    return law_kb(tmp_path_factory.mktemp("replica-kb"), shared_corpus / GYOSEI_TETSUZUKI_XML)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


def environment(state_url: str, slack: FakeSlack) -> dict[str, str]:
    return {
        **os.environ,
        STATE_ENV: state_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "KAIRAN_AUDIT_SALT": "replica-test-salt",
        "KAIRAN_CONSOLE_TOKEN": "",
    }


def write_manifest(path: Path, data_dir: Path, extra: str = "") -> Path:
    path.write_text(
        f"""version: 1
data_dir: {data_dir}
state:
  url_env: {STATE_ENV}
platforms:
  slack:
    mode: http
knowledge:
  collections:
    - name: laws
      kind: law
    - name: circulars
      kind: circular
tenants:
  - id: testcity
    name: テスト市
    collections: [laws, circulars]
    channels:
      - platform: slack
        id: {CHANNEL}
        name: "#総務課"
        collections: [laws]
{extra}""",
        encoding="utf-8",
    )
    return path


# -- (a) Slack event de-duplication across two serve replicas ----------------------------------------
class Replica:
    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    async def wait_ready(self, http: aiohttp.ClientSession) -> None:
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
        while asyncio.get_running_loop().time() < deadline:
            assert self.proc.returncode is None, "kairan serve exited early"
            try:
                async with http.get(f"http://127.0.0.1:{self.port}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)
        raise AssertionError(f"replica on port {self.port} not ready within {START_TIMEOUT_S}s")

    async def stop(self) -> str:
        if self.proc.returncode is None:
            self.proc.terminate()
        try:
            _, stderr = await asyncio.wait_for(self.proc.communicate(), 30)
        except TimeoutError:
            self.proc.kill()
            _, stderr = await self.proc.communicate()
        return stderr.decode(errors="replace")


async def start_replica(manifest: Path, env: dict[str, str]) -> Replica:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        str(KAIRAN), "serve", "--manifest", str(manifest), "--port", str(port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env,
    )
    return Replica(proc, port)


async def post_event(
    http: aiohttp.ClientSession, replica: Replica, payload: dict[str, Any], retry: int | None = None
) -> int:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {**sign(body), "Content-Type": "application/json"}
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    async with http.post(replica.events_url, data=body, headers=headers) as r:
        return r.status


def answers_in(slack: FakeSlack, thread_ts: str) -> list[Any]:
    return [c for c in slack.calls_to("chat.postMessage")
            if c.params["channel"] == CHANNEL and c.params.get("thread_ts") == thread_ts]


async def test_the_same_slack_event_on_two_replicas_is_answered_once(
    kb_dir: Path, postgres_url: str, slack: FakeSlack, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "kairan.yaml", kb_dir)
    env = environment(postgres_url, slack)
    replicas = [await start_replica(manifest, env) for _ in range(2)]
    logs: list[str] = []
    try:
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(r.wait_ready(http) for r in replicas))
            mention = load_fixture("payload_app_mention.json")
            thread_ts = mention["event"]["ts"]
            # The original delivery and Slack's retry reach both replicas at the same moment.
            statuses = await asyncio.gather(
                post_event(http, replicas[0], mention), post_event(http, replicas[1], mention, retry=1)
            )
            assert list(statuses) == [200, 200]  # gather: a list at run time, a tuple to mypy
            await slack.wait_for("chat.postMessage", count=1, timeout=30)

            other = copy.deepcopy(mention)
            other["event_id"] = "Ev0MENTION0002"
            other["event"].update(ts="1715000100.000200", event_ts="1715000100.000200",
                                  client_msg_id="0b9d6a1e-2c3f-4e5a-8b7c-9d0e1f2a3b4c")
            assert await post_event(http, replicas[1], other) == 200
            await slack.wait_for("chat.postMessage", count=2, timeout=30)
            await asyncio.sleep(1.5)  # time for a duplicate to show up, if one were coming
    finally:
        for replica in replicas:
            logs.append(await replica.stop())

    assert len(answers_in(slack, thread_ts)) == 1, slack.methods()
    assert len(answers_in(slack, "1715000100.000200")) == 1
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert len(slack.calls_to("reactions.add")) == 2  # the progress reaction too: once per event
    skipped = [line for log in logs for line in log.splitlines() if "already handled" in line]
    assert len(skipped) == 1 and "Ev0MENTION0001" in skipped[0]


# -- (b) exactly-once digests from two processes at once ----------------------------------------------
def digest_manifest(path: Path, data_dir: Path, feed_url: str) -> Path:
    subscription = f"""      - platform: slack
        id: {DIGEST_CHANNEL}
        name: "#通知"
        collections: [circulars]
        digests:
          - id: nta-weekday
            schedule: "30 8 * * mon-fri"
            sources: [nta-news]
            max_items: 10
feeds:
  - id: nta-news
    kind: rdf
    url: {feed_url}
    collection: circulars
    internal_hosts: ["{urlsplit(feed_url).netloc}"]
"""
    return write_manifest(path, data_dir, subscription)


async def digest_run(manifest: Path, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(KAIRAN), "digest", "run", "nta-weekday", "--manifest", str(manifest),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), START_TIMEOUT_S)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


async def test_two_digest_runs_at_once_post_each_circular_once(
    postgres_url: str, slack: FakeSlack, tmp_path: Path
) -> None:
    async with FeedServer() as feeds:
        feeds.mirror("www.nta.go.jp", NTA)
        feeds.put("/news.rdf", drop_newest(fixture("nta_news_shift_jis.rdf"), 2))
        manifest = digest_manifest(tmp_path / "kairan.yaml", tmp_path / "data", feeds.url("/news.rdf"))
        env = environment(postgres_url, slack)

        # First poll: what the feed lists now is the baseline (never announced). Through the CLI,
        # in this process, reading the same configuration from the environment.
        dry_run = ["run", "nta-weekday", "--dry-run", "--manifest", str(manifest)]
        baseline = await asyncio.to_thread(
            CliRunner().invoke, digest_group, dry_run, env={STATE_ENV: postgres_url}
        )
        assert baseline.exit_code == 0, baseline.output
        assert "新着はありません" in baseline.stdout

        feeds.put("/news.rdf", fixture("nta_news_shift_jis.rdf"))  # two circulars published
        slack.delay("chat.postMessage", 1.0)  # a slow post widens the window for a second sender
        results = await asyncio.gather(digest_run(manifest, env), digest_run(manifest, env))

    codes = [code for code, _ in results]
    outputs = [out for _, out in results]
    assert codes == [0, 0], outputs
    posts = [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == DIGEST_CHANNEL]
    assert len(posts) == 1, outputs
    posted_text = json.dumps(posts[0].params, ensure_ascii=False)
    assert "消費税法基本通達の一部改正について（法令解釈通達）" in posted_text
    assert sum("投稿済み: 2件" in out for out in outputs) == 1, outputs
    # The other process found the items taken: sent by the first ("busy") or already posted.
    assert sum(("/ busy" in out) or ("/ nothing_new" in out) for out in outputs) == 1, outputs
    # One process polled the source and fetched each new circular's document (one ingest writer);
    # the other found them recorded.
    documents = [r.path for r in feeds.requests if r.path != "/news.rdf"]
    assert len(documents) == 2 and len(set(documents)) == 2, documents
