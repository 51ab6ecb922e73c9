"""``make conformance``: ``kairan serve`` (Teams' development mode) against the Microsoft 365 Agents
Playground, npm ``@microsoft/m365agentsplayground`` (pinned in package.json / package-lock.json).

The Playground is software nobody here wrote: its mock Teams connector validates what the bot
sends (it refuses a ``null``, more than 10 citations, a malformed citation or stream entity) and
its web client shows the result. It has no headless mode or automation API in the published
package, so the HTTP and WebSocket endpoints its own web page uses are driven as the page would
(``conformance.teams.client`` lists them): ``kairan serve`` gets exactly what it gets from a person
clicking in the Playground.

The exchanged activities are then checked: a channel @mention, a thread follow-up, a personal
streamed answer with citations, a feedback vote, a digest (``kairan digest run``, posted
proactively). The LLM is a local OpenAI-compatible fake that cites whichever source holds the
quoted provision (so the citations verify), the feed a local server with recorded 国税庁 pages.

Run ``python -m conformance.teams`` (``make conformance``); it installs the Playground with
``npm ci`` into a cache directory (``KAIRAN_CONFORMANCE_CACHE``, default
``~/.cache/kairan/conformance``) and needs Node.js, the network once for npm, and the shared
corpus beside the checkout (../shared). Exit status 0: every check passed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from conformance.teams import client, scenarios
from conformance.teams.client import GENERAL, PACKAGE, TENANT, Playground
from conformance.teams.scenarios import NTA_FEED, SUBSCRIPTION, Checks
from tests.fakes.local_http import free_port

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
JICHIHO = SHARED / "corpus" / "egov_html" / "322AC0000000067_20250601_504AC0000000068.html"
NTA_PAGES = SHARED / "corpus" / "circulars" / "nta"
LLM_KEY_ENV = "KAIRAN_CONFORMANCE_LLM_KEY"
LLM_KEY = "conformance-key"
DEADLINE_S = 420.0  # for the whole run


Process = subprocess.Popen[bytes]


@contextlib.contextmanager
def started(command: Sequence[str], log: Path, env: dict[str, str], cwd: Path) -> Iterator[Process]:
    """A process of ours, its output in ``log``; stopped (SIGTERM, then SIGKILL) by its pid at the end."""
    with log.open("wb") as out:
        process = subprocess.Popen(list(command), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)


async def until_up(url: str, process: Process, what: str, log: Path, timeout: float = 90) -> None:
    """Wait until ``url`` answers 200 (``process`` ending first is an error, with its log's tail)."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
                raise RuntimeError(f"{what} exited ({process.returncode}); see {log}:\n{tail}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.3)
    raise TimeoutError(f"{what} did not answer {url} within {timeout:.0f} s; see {log}")


def write_manifest(path: Path, *, data_dir: Path, llm_url: str, feed_url: str, feed_host: str) -> None:
    path.write_text(
        f"""version: 1
data_dir: {data_dir}
knowledge:
  collections:
    - name: laws
      kind: law
    - name: circulars
      kind: circular
llm:
  provider: openai_compatible
  model: conformance-fake
  base_url: {llm_url}
  api_key_env: {LLM_KEY_ENV}
feeds:
  - id: nta-news
    kind: rdf
    url: {feed_url}
    collection: circulars
    internal_hosts: ["{feed_host}"]
platforms:
  teams:
    dev_anonymous: true
state:
  url: sqlite:///{data_dir / 'state.db'}
tenants:
  - id: yokosuka
    name: 横須賀市
    collections: [laws, circulars]
    channels:
      - platform: teams
        id: "{TENANT}"
        name: Agents Playground
      - platform: teams
        id: "{GENERAL}"
        name: 総務課 / 一般
        digests:
          - id: {SUBSCRIPTION}
            schedule: "0 0 1 1 *"
            sources: [nta-news]
""",
        encoding="utf-8",
    )


# --- main -------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fakes() -> AsyncIterator[tuple[Any, Any]]:
    """The local LLM (OpenAI-compatible, streaming for a few seconds) and the local feed server."""
    from tests.bot.digest.conftest import drop_newest
    from tests.fakes.feed_server import FeedServer
    from tests.fakes.llm_servers import FakeOpenAIServer

    llm = FakeOpenAIServer()
    llm.api_key = LLM_KEY
    llm.respond(scenarios.llm_answer, pace=0.35)
    async with llm, FeedServer() as feed:
        feed.mirror("www.nta.go.jp", NTA_PAGES)
        feed.put("/news.rdf", drop_newest(NTA_FEED.read_bytes(), 2))  # the feed before two circulars
        yield llm, feed


class Kairan:
    """``kairan`` commands for the run's manifest, their output appended to commands.log."""

    def __init__(self, work: Path, manifest: Path, env: dict[str, str]) -> None:
        self.work, self.manifest, self.env = work, manifest, env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "kairan.cli", *args, "--manifest", str(self.manifest)]

    async def __call__(self, *args: str, must: bool = True) -> tuple[int, str]:
        """Run ``kairan *args``; ``must``: raise when it fails. Returns (exit status, output)."""
        process = await asyncio.create_subprocess_exec(
            *self.command(*args), env=self.env, cwd=self.work,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        raw, _ = await asyncio.wait_for(process.communicate(), 180)
        out = raw.decode("utf-8", "replace")
        with (self.work / "commands.log").open("a", encoding="utf-8") as log:
            log.write(f"$ kairan {' '.join(args)}\n{out}\n")
        code = -1 if process.returncode is None else process.returncode
        if must and code != 0:
            raise RuntimeError(f"kairan {' '.join(args)} failed ({code}):\n{out[-3000:]}")
        return code, out


async def run(work: Path) -> Checks:
    for needed in (JICHIHO, NTA_PAGES, NTA_FEED):
        if not needed.exists():
            raise RuntimeError(f"{needed} is missing: the run reads the shared corpus beside the checkout")
    cli = client.install_playground()
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH: make conformance needs Node.js")
    checks = Checks()
    data = work / "data"
    env = {**os.environ, LLM_KEY_ENV: LLM_KEY, "KAIRAN_AUDIT_KEY": "conformance-audit-key-0123456789"}
    env.pop("KAIRAN_MANIFEST", None)
    manifest = work / "kairan.yaml"
    kairan = Kairan(work, manifest, env)
    async with fakes() as (llm, feed):
        write_manifest(manifest, data_dir=data, llm_url=f"{llm.base_url}/v1", feed_url=feed.url("/news.rdf"),
                       feed_host=feed.host)
        print("ingesting 地方自治法 (kairan ingest)", flush=True)
        await kairan("ingest", "--collection", "laws", str(JICHIHO))
        port, pg_port = free_port(), free_port()
        serve = kairan.command("serve", "--host", "127.0.0.1", "--port", str(port))
        playground = client.command(cli, node, bot_url=f"http://127.0.0.1:{port}/api/messages", port=pg_port)
        pg_env = client.environment(env, work / "playground-debug.log")
        with started(serve, work / "serve.log", env, work) as bot, \
                started(playground, work / "playground.log", pg_env, work) as pg_process:
            await until_up(f"http://127.0.0.1:{port}/healthz", bot, "kairan serve", work / "serve.log")
            await until_up(f"http://127.0.0.1:{pg_port}/_debug/ping", pg_process, "the Playground",
                           work / "playground.log")
            async with aiohttp.ClientSession() as http:
                pg = Playground(f"http://127.0.0.1:{pg_port}", http)
                await pg.connect()
                try:
                    await scenarios.everything(pg, checks, kairan=kairan, feed=feed, llm=llm,
                                               state_url=f"sqlite:///{data / 'state.db'}")
                finally:
                    exchanged = [e.__dict__ for e in pg.exchanges]
                    (work / "exchanges.json").write_text(
                        json.dumps(exchanged, ensure_ascii=False, indent=1), encoding="utf-8"
                    )
                    await pg.close()
    return checks


def main(argv: Sequence[str] | None = None) -> int:
    summary = (__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m conformance.teams", description=summary)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, exchanges.json)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="kairan-teams-conformance-"))
    began = time.monotonic()
    print(f"kairan serve against {PACKAGE} (work directory {work})", flush=True)
    try:
        checks = asyncio.run(asyncio.wait_for(run(work), DEADLINE_S))
    except Exception as exc:  # a step that could not run: one failure, the evidence kept
        print(f"✗ the conformance run stopped: {type(exc).__name__}: {exc}", flush=True)
        print(f"  logs and exchanged activities: {work}", flush=True)
        return 1
    took = time.monotonic() - began
    print(f"{len(checks.passed)} checks passed, {len(checks.failed)} failed in {took:.0f} s", flush=True)
    if checks.failed or args.keep:
        print(f"  logs and exchanged activities: {work}", flush=True)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if checks.failed else 0
