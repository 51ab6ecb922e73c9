"""Slack load test: concurrent signed app_mention events against the HTTP endpoint.

    python benchmarks/slack_load.py [--events 50] [--latency 2.0] [--retries/--no-retries]
                                    [--corpus ../shared/corpus]

The real SlackAdapter (Bolt, HTTP mode) serves /slack/events on 127.0.0.1; the Slack Web API
is the local mock (tests/fakes/slack_api.py); the answer engine is the real one over 行政手続法
with an in-process LLM stub that takes ``--latency`` seconds. The adapter runs in a child
process (as it would on its own server); the load generator and the mock Web API run in this
one. All events are sent at once; each is redelivered as a Slack retry (X-Slack-Retry-Num: 1)
``--retry-after`` seconds later, while the answers are being written, unless ``--no-retries``.

Prints ack latency of the concurrent first deliveries (HTTP response time, measured in the
generator process from writing the request to reading the response; the retries' acks, which
land while the answers are being computed on the same CPUs, are listed separately), first
visible feedback (time until the progress reaction reached the Web API) and how many events
were answered, and how many twice.
Targets (issue 5): ack p95 <= 100 ms, first feedback p95 <= 1 s, every event answered once.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from adapters.slack.app import SlackAdapter  # noqa: E402
from bot.engine import AnswerEngine, EngineSettings  # noqa: E402
from bot.state.audit import AuditLog  # noqa: E402
from bot.state.db import open_database  # noqa: E402
from bot.state.events import EventLedger  # noqa: E402
from bot.state.feedback import FeedbackStore  # noqa: E402
from bot.state.threads import ThreadStore  # noqa: E402
from kairan.wiring import open_searcher  # noqa: E402
from knowledge.ingest import Ingestor, discover  # noqa: E402
from knowledge.store import KnowledgeStore  # noqa: E402
from manifest.schema import Manifest  # noqa: E402
from tests.fakes.engines import ScriptedProvider  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402

LAW_XML = "xml/405AC0000000088_20240401_504AC0100000052.xml"
SECRET = "load-test-signing-secret"
CHANNEL = "C0LOADTEST1"
QUESTIONS = (
    "行政手続法第五条の審査基準について教えて",
    "申請に対する処分の標準処理期間は？",
    "不利益処分をするときの理由の提示は必要？",
    "行政指導の一般原則を教えて",
    "聴聞の通知には何を書く？",
)
STUB_TEXT = "行政庁は、審査基準を定めるものとする[1]。"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def payload(i: int) -> dict[str, Any]:
    ts = f"1720000000.{i:06d}"
    return {
        "token": "load", "team_id": "T0LOAD", "api_app_id": "A0KAIRAN", "type": "event_callback",
        "event_id": f"Ev0LOAD{i:06d}", "event_time": 1720000000,
        "event": {
            "type": "app_mention", "user": f"U0LOAD{i:04d}", "team": "T0LOAD", "channel": CHANNEL,
            "text": f"<@U0KAIRANBOT> {QUESTIONS[i % len(QUESTIONS)]}", "ts": ts, "event_ts": ts,
        },
    }


def signed(body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}",
            "Content-Type": "application/json"}


def raw_request(event: dict[str, Any], retry: bool) -> bytes:
    """One signed HTTP/1.1 request, serialised before the clock starts."""
    body = json.dumps(event, ensure_ascii=False).encode()
    headers = signed(body) | {"Content-Length": str(len(body)), "Host": "127.0.0.1", "Connection": "close"}
    if retry:
        headers |= {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"POST /slack/events HTTP/1.1\r\n{head}\r\n".encode() + body


async def fire(port: int, requests: list[bytes]) -> list[tuple[float, float, int]]:
    """Open every connection first, then write all requests back to back: (sent, acked, status)."""
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in requests]
    sent: list[float] = []
    for (_, writer), raw in zip(conns, requests, strict=True):
        sent.append(time.perf_counter())
        writer.write(raw)

    async def response(i: int) -> tuple[float, float, int]:
        reader, writer = conns[i]
        status = int((await reader.readline()).split()[1])
        await reader.read()  # until the server closes the connection
        acked = time.perf_counter()
        writer.close()
        return sent[i], acked, status

    return list(await asyncio.gather(*(response(i) for i in range(len(requests)))))


def load_generator(
    port: int, events: list[dict[str, Any]], retry_after: float | None, conn: Connection
) -> None:
    """Child process: sends every event at once (and the retries later), reports the timings."""

    async def go() -> list[tuple[str, bool, float, float, int]]:
        tss = [e["event"]["ts"] for e in events]
        timings = await fire(port, [raw_request(e, False) for e in events])
        results = [(ts, False, *t) for ts, t in zip(tss, timings, strict=True)]
        if retry_after is not None:
            await asyncio.sleep(retry_after)
            timings = await fire(port, [raw_request(e, True) for e in events])
            results += [(ts, True, *t) for ts, t in zip(tss, timings, strict=True)]
        return results

    conn.send(asyncio.run(go()))


def serve_adapter(api_url: str, data_dir: str, db_url: str, latency: float, conn: Connection) -> None:
    """Child process: the system under test (adapter + engine) on its own event loop and CPU."""

    async def serve() -> None:
        db = open_database(db_url)
        audit = AuditLog(db, salt="load")
        engine = AnswerEngine(
            searcher=open_searcher(Path(data_dir)),
            provider=ScriptedProvider(STUB_TEXT, latency=latency),
            threads=ThreadStore(db), audit=audit, settings=EngineSettings(rewrite=False),
        )
        adapter = SlackAdapter(
            engine=engine, ledger=EventLedger(db), feedback=FeedbackStore(db), audit=audit,
            manifest=Manifest(), bot_token="xoxb-load", signing_secret=SECRET, mode="http", api_url=api_url,
        )
        await adapter.start()
        app = web.Application()
        app.add_routes(adapter.routes())
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        conn.send(runner.addresses[0][1])
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        await adapter.stop()
        await runner.cleanup()
        db.close()
        conn.send("stopped")

    asyncio.run(serve())


async def run(args: argparse.Namespace, data_dir: Path, work: Path) -> dict[str, Any]:
    spawn = multiprocessing.get_context("spawn")
    loop = asyncio.get_running_loop()
    async with FakeSlack() as slack:
        parent, child = spawn.Pipe()
        server = spawn.Process(
            target=serve_adapter,
            args=(slack.api_url, str(data_dir), f"sqlite:///{work / 'state.db'}", args.latency, child),
            daemon=True,  # never outlives a failed run
        )
        server.start()
        port = await loop.run_in_executor(None, parent.recv)
        # One question first: the first answer on a fresh database creates its audit chain head.
        warm = payload(999_999)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw_request(warm, False))
        await reader.read()
        writer.close()
        await slack.wait_for("chat.postMessage", count=1, timeout=60)
        events = [payload(i) for i in range(args.events)]
        load_parent, load_child = spawn.Pipe()
        generator = spawn.Process(
            target=load_generator,
            args=(port, events, args.retry_after if args.retries else None, load_child),
            daemon=True,
        )
        generator.start()
        results = await loop.run_in_executor(None, load_parent.recv)
        generator.join(30)
        started = min(sent for _, _, sent, _, _ in results)
        await slack.wait_for("chat.postMessage", count=args.events + 1, timeout=120)
        answered_at = time.perf_counter() - started
        await asyncio.sleep(args.settle)  # give duplicates, if any, the time to show up
        parent.send("stop")
        await loop.run_in_executor(None, parent.recv)
        server.join(30)

    acks = [acked - sent for _, retry, sent, acked, _ in results if not retry]  # the 50 concurrent mentions
    retry_acks = [acked - sent for _, retry, sent, acked, _ in results if retry]
    sent_at = {ts: sent for ts, retry, sent, _, _ in results if not retry}
    statuses = Counter(status for *_, status in results)
    first_reaction: dict[str, float] = {}
    warm_ts = warm["event"]["ts"]
    for call in slack.calls_to("reactions.add"):
        first_reaction.setdefault(call.params["timestamp"], call.time)
    feedback = [first_reaction[ts] - sent for ts, sent in sent_at.items() if ts in first_reaction]
    posts = [c for c in slack.calls_to("chat.postMessage") if c.params["thread_ts"] != warm_ts]
    per_thread = Counter(c.params["thread_ts"] for c in posts)
    apologies = sum("申し訳ありません" in c.params["text"] for c in posts)
    return {
        "requests": len(results), "statuses": dict(statuses),
        "ack_p50_ms": 1000 * statistics.median(acks), "ack_p95_ms": 1000 * percentile(acks, 0.95),
        "ack_max_ms": 1000 * max(acks),
        "retries_ack_p95_ms": 1000 * percentile(retry_acks, 0.95) if retry_acks else None,
        "retries_ack_max_ms": 1000 * max(retry_acks) if retry_acks else None,
        "feedback_p50_ms": 1000 * statistics.median(feedback),
        "feedback_p95_ms": 1000 * percentile(feedback, 0.95),
        "feedback_max_ms": 1000 * max(feedback), "feedback_seen": len(feedback),
        "answered": len(per_thread), "events": args.events,
        "duplicates": sum(n - 1 for n in per_thread.values()), "apologies": apologies,
        "all_answered_after_s": answered_at,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--latency", type=float, default=2.0, help="LLM stub latency in seconds")
    parser.add_argument("--retries", action=argparse.BooleanOptionalAction, default=True,
                        help="redeliver every event as a Slack retry while the answers are running")
    parser.add_argument("--retry-after", type=float, default=1.0, help="seconds before the retries")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds to wait for duplicates")
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        items, errors = discover([args.corpus / LAW_XML], collection="laws")
        if errors or not items:
            raise SystemExit(f"cannot read {args.corpus / LAW_XML}: {errors}")
        Ingestor(store=KnowledgeStore(work / "kb")).ingest(items)
        report = asyncio.run(run(args, work / "kb", work))
    ok = (report["ack_p95_ms"] <= 100 and report["feedback_p95_ms"] <= 1000
          and report["answered"] == report["events"]
          and report["duplicates"] == 0 and report["apologies"] == 0)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    print(
        f"ack p95 {report['ack_p95_ms']:.1f} ms (target <= 100) | first feedback p95 "
        f"{report['feedback_p95_ms']:.0f} ms (target <= 1000) | "
        f"answered {report['answered']}/{report['events']}, "
        f"duplicates {report['duplicates']} | {'PASS' if ok else 'FAIL'}"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
