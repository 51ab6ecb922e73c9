"""Digest load test: 1,000 new circulars in one feed, fetched, ingested, summarised and posted to Slack.

    python benchmarks/digest_load.py [--items 1000] [--max-items 10] [--host-delay 0]
                                     [--llm-latency S] [--state-dir DIR]

A local feed server (tests/fakes/feed_server.py) serves an RSS 2.0 feed and, for each item, a
Japanese notice page (HTML) that the digest runner fetches, parses, ingests into a knowledge base
and summarises; the subscription posts through the real SlackAdapter to the mock Slack Web API
(tests/fakes/slack_api.py). The runner is built as ``kairan serve`` builds it (one Fetcher, an
Ingestor with one worker, the Summariser: extractive by default, the production default
``llm.provider: none``; ``--llm-latency`` puts an OpenAI-compatible LLM stub that holds each
request that long behind it).

Steps: (1) the first poll sees an older feed of ``--baseline`` items and records them without
announcing them (as the runner does for a new source); (2) the feed now lists ``--items`` new
items: the subscription is run until it reports nothing new (each run is one digest message of
at most ``--max-items`` items; the first run polls and processes every item); (3) a fresh
runner on the same state runs again and must post nothing.

Prints the time of the whole run and of its phases (feed fetch, document fetch, parse and ledger
work, ingest, summarise, post), items/s, the number of digest messages and of items counted in
the messages the mock API received (each new item exactly once, no baseline item), and the peak
resident memory (ru_maxrss). ``--host-delay`` is the Fetcher's per-host politeness delay
(production default 1 s between requests to one host: 1,000 documents from one site then take
at least 1,000 s; the benchmark default 0 measures the bot itself).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FEED_PATH = "/feeds/tsuchi.xml"
CHANNEL = "C0DIGESTLOAD"
SUBSCRIPTION = "bench-digest"
SOURCE = "bench-soumu"
STUB_SUMMARY = "本通知は、地方公共団体における事務の取扱いについて定めたものです[1]。"

BUREAUS = (("総行行", "自治行政局長"), ("総財務", "自治財政局長"), ("総税企", "自治税務局長"),
           ("総行公", "自治行政局公務員部長"), ("消防災", "消防庁国民保護・防災部長"))
SUBJECTS = ("地方自治法施行令の一部を改正する政令の施行", "会計年度任用職員制度の運用",
            "個人情報の保護に関する法律の施行に係る事務処理", "災害救助法の適用に係る留意事項",
            "地方公務員の勤務時間及び休暇制度の改正", "固定資産税の課税事務の適正化",
            "住民基本台帳事務における本人確認の徹底", "公共施設等の適正管理の推進",
            "地方財政法第五条の特例に係る地方債の取扱い", "行政手続法に基づく審査基準の見直し",
            "電子申請の受付に係るシステム標準化", "災害時における避難所運営の改善")
CATEGORIES = ("通知", "事務連絡", "通達")
TOPICS = ("改正の趣旨", "改正の概要", "施行期日", "留意事項", "事務処理上の取扱い", "今後の予定")
PHRASES = ("各地方公共団体においては、{s}について遺漏のないよう取り扱われたい。",
           "ついては、貴都道府県内の市区町村に対しても、{s}に関する本通知の内容を周知願いたい。",
           "本件は、{s}について、令和{y}年{m}月{d}日から適用するものである。",
           "なお、{s}の実施に当たっては、地方自治法（昭和二十二年法律第六十七号）第二百四十五条の四第一項の"
           "規定に基づく技術的な助言として通知するものである。",
           "{s}に係る経費については、地方交付税措置を講ずることとしている。",
           "不明な点があれば、担当課まで照会されたい。")


# ============================================================== pure helpers: the published notices


@dataclass(frozen=True)
class Notice:
    n: int
    number: str  # 文書番号, e.g. 総行行第123号
    title: str
    date: datetime
    category: str
    path: str  # of its page on the feed server

    @property
    def guid(self) -> str:
        return f"bench-notice-{self.n:05d}"


def make_notices(count: int, *, first: int = 1) -> list[Notice]:
    """``count`` distinct circulars numbered from ``first``, newest last (one per hour)."""
    start = datetime(2025, 4, 1, 0, 0, tzinfo=UTC)
    notices = []
    for n in range(first, first + count):
        prefix, _ = BUREAUS[n % len(BUREAUS)]
        subject = SUBJECTS[n % len(SUBJECTS)]
        title = f"{subject}について（{'通知' if n % 3 else '依頼'}）（第{n}報）"
        notices.append(Notice(n, f"{prefix}第{n}号", title, start + timedelta(hours=n),
                              CATEGORIES[n % len(CATEGORIES)], f"/tsuchi/{n:05d}.html"))
    return notices


def notice_html(notice: Notice) -> bytes:
    """A notice page as ministries publish them: letterhead, title, body, numbered sections."""
    _, sender = BUREAUS[notice.n % len(BUREAUS)]
    subject = SUBJECTS[notice.n % len(SUBJECTS)]
    d = notice.date
    era = f"令和{d.year - 2018}年{d.month}月{d.day}日"
    paragraphs = []
    for k, topic in enumerate(TOPICS):
        sentences = [PHRASES[(notice.n + k + j) % len(PHRASES)].format(
            s=subject, y=d.year - 2018 + (j % 2), m=(d.month + k) % 12 + 1, d=(d.day + j) % 28 + 1)
            for j in range(3)]
        body = "".join(sentences) + f"（整理番号{notice.n}-{k + 1}）"
        paragraphs.append(f"<h3>第{k + 1}　{topic}</h3>\n<p>{body}</p>")
    html = f"""<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>{escape(notice.title)}｜総務省</title></head>
<body><div id="main">
<p class="right">{notice.number}<br>{era}</p>
<p>各都道府県知事　殿<br>各指定都市市長　殿</p>
<p class="right">総務省{sender}<br>（公印省略）</p>
<h1>{escape(notice.title)}</h1>
<p>{subject}については、かねてより格別の御配慮をいただいているところですが、今般、下記のとおり取り扱うこととしたので、
通知します。貴職におかれては、その運用に遺漏のないよう御配慮願います（{notice.number}）。</p>
<h2>記</h2>
{chr(10).join(paragraphs)}
<p>（担当）総務省{sender}付　電話 03-5253-5111（代表）</p>
</div></body></html>"""
    return html.encode("utf-8")


def rss_feed(notices: Sequence[Notice]) -> bytes:
    """RSS 2.0, newest first; ``{base}`` is the feed server's URL (filled in when served)."""
    items = "\n".join(
        f"""<item><title>{escape(x.title)}</title><link>{{base}}{x.path}</link>
<guid isPermaLink="false">{x.guid}</guid><pubDate>{format_datetime(x.date)}</pubDate>
<category>{x.category}</category><description>{escape(x.number)}</description></item>"""
        for x in sorted(notices, key=lambda x: x.date, reverse=True)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>総務省 新着通知</title><link>{{base}}/</link>
<description>地方公共団体あて通知・事務連絡</description><language>ja</language>
{items}
</channel></rss>""".encode()


_LINK = re.compile(r"\*<([^|>]+)\|")
_MORE = re.compile(r"ほか (\d+) 件")


def posted_items(blocks: Sequence[dict[str, Any]]) -> tuple[list[str], int]:
    """URLs of the items shown in a Slack digest message, and the count folded into 「ほか N 件」."""
    urls: list[str] = []
    folded = 0
    for block in blocks:
        if block.get("type") == "section":
            match = _LINK.match(block["text"]["text"])
            if match:
                urls.append(match.group(1))
        elif block.get("type") == "context":
            for element in block.get("elements", []):
                more = _MORE.fullmatch(element.get("text", ""))
                if more:
                    folded += int(more.group(1))
    return urls, folded


# ============================================================== timing wrappers


@dataclass
class Phases:
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: Counter[str] = field(default_factory=Counter)

    def add(self, phase: str, started: float) -> None:
        self.seconds[phase] += time.perf_counter() - started
        self.calls[phase] += 1


def instrument(runner: Any, adapter: Any, phases: Phases, feed_url: str) -> None:
    """Wrap the runner's collaborators so each phase's time is summed (phases run one at a time)."""
    fetch, summarise, send = runner.fetcher.fetch, runner.summariser.summarise, adapter.send

    async def timed_fetch(url: str, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await fetch(url, **kwargs)
        finally:
            phases.add("fetch feed" if url == feed_url else "fetch documents", started)

    async def timed_summarise(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await summarise(*args, **kwargs)
        finally:
            phases.add("summarise", started)

    async def timed_send(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await send(*args, **kwargs)
        finally:
            phases.add("post", started)

    runner.fetcher.fetch, runner.summariser.summarise, adapter.send = timed_fetch, timed_summarise, timed_send
    import bot.digest.runner as runner_module

    parse = getattr(runner_module.parse_item, "untimed", runner_module.parse_item)

    def timed_parse(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return parse(*args, **kwargs)
        finally:
            phases.add("parse", started)

    timed_parse.untimed = parse  # type: ignore[attr-defined]
    setattr(runner_module, "parse_item", timed_parse)  # noqa: B010  # the runner looks it up per document
    for name in LEDGER_CALLS:
        setattr(runner.ledger, name, _timed_sync(getattr(runner.ledger, name), phases, "state DB (ledger)"))
    if runner.ingestor is not None:
        ingest = runner.ingestor.ingest

        def timed_ingest(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return ingest(*args, **kwargs)
            finally:
                phases.add("ingest", started)

        runner.ingestor.ingest = timed_ingest


LEDGER_CALLS = ("source_state", "save_source_state", "record_items", "unprocessed", "mark_ready",
                "ensure_subscription", "pending", "record_intent", "mark_posted", "record_run")


def _timed_sync(func: Any, phases: Phases, phase: str) -> Any:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            phases.add(phase, started)

    return timed


# ============================================================== the run


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def build(args: argparse.Namespace, state: Path, feed_url: str, api_url: str,
                llm_url: str | None) -> tuple[Any, Any, Any]:
    """Runner + Slack adapter as ``kairan serve`` wires them (see kairan.wiring.build_digest_runner)."""
    from adapters.slack.app import SlackAdapter
    from bot.digest.config import FeedSource, Subscription
    from bot.digest.fetch import Fetcher
    from bot.digest.runner import DigestRunner
    from bot.digest.summarise import Summariser
    from bot.flow.lifecycle import Lifecycle
    from bot.llm.openai_compatible import OpenAICompatibleProvider
    from bot.models import ConversationRef
    from bot.ports import Answerer
    from bot.state.audit import AuditLog
    from bot.state.db import open_database
    from bot.state.events import EventLedger
    from bot.state.feedback import FeedbackStore
    from knowledge.ingest import Ingestor
    from knowledge.store import KnowledgeStore

    db = open_database(f"sqlite:///{state / 'state.db'}")
    # Digests only: nothing is asked, so there is no answerer (and no outbox or questions in flight).
    lifecycle = Lifecycle(answerer=cast(Answerer, None), ledger=EventLedger(db))
    adapter = SlackAdapter(
        lifecycle=lifecycle, feedback=FeedbackStore(db), audit=AuditLog(db, salt="bench"),
        manifest=None, bot_token="xoxb-digest", signing_secret="unused", mode="http", api_url=api_url,
    )
    await adapter.start()
    llm = (OpenAICompatibleProvider(base_url=f"{llm_url}/v1", model="bench", api_key="bench-key")
           if llm_url else None)
    runner = DigestRunner(
        db=db,
        feeds=[FeedSource(id=SOURCE, kind="rss", url=feed_url, collection="circulars", category="通知",
                          internal_hosts=(urlsplit(feed_url).netloc,))],
        subscriptions=[Subscription(
            id=SUBSCRIPTION, ref=ConversationRef("slack", "default", CHANNEL), schedule="30 8 * * mon-fri",
            sources=(SOURCE,), max_items=args.max_items,
        )],
        adapters={"slack": adapter},
        fetcher=Fetcher(host_delay_s=args.host_delay),
        summariser=Summariser(llm=llm),
        ingestor=Ingestor(store=KnowledgeStore(state / "kb"), workers=1),
    )
    return runner, adapter, db


async def close(runner: Any, adapter: Any, db: Any) -> None:
    await runner.fetcher.close()
    await runner.aclose()
    await adapter.stop()
    if runner.summariser.llm is not None:
        await runner.summariser.llm.aclose()
    db.close()


async def drain(runner: Any, max_runs: int) -> list[Any]:
    """Run the subscription until it has nothing new (each run posts one digest)."""
    results = []
    shown = time.perf_counter()
    for _ in range(max_runs):
        result = await runner.run(SUBSCRIPTION)
        results.append(result)
        posted = sum(r.posted for r in results)
        if time.perf_counter() - shown >= 2 or result.status != "posted":
            shown = time.perf_counter()
            print(f"  run {len(results)}: {result.status}, {posted} items posted so far", file=sys.stderr)
        if result.status != "posted":
            break
    return results


async def run(args: argparse.Namespace, state: Path) -> dict[str, Any]:
    from tests.fakes.feed_server import FeedServer
    from tests.fakes.llm_servers import FakeOpenAIServer
    from tests.fakes.slack_api import FakeSlack

    rerun = (state / "state.db").exists()  # --state-dir of an earlier run: nothing may be posted
    baseline = make_notices(args.baseline, first=1)
    fresh = make_notices(args.items, first=args.baseline + 1)
    async with FeedServer() as feeds, FakeSlack() as slack, FakeOpenAIServer(api_key="bench-key") as llm:
        llm.script(STUB_SUMMARY)
        if args.llm_latency:
            llm.delay_next(args.llm_latency, times=args.items + args.baseline)
        for notice in [*baseline, *fresh]:
            feeds.put(notice.path, notice_html(notice), "text/html; charset=utf-8")
        feed_url = feeds.url(FEED_PATH)
        llm_url = llm.base_url if args.llm_latency else None

        # (1) The source's first poll: what it lists now is recorded, not announced.
        feeds.put(FEED_PATH, rss_feed(baseline), "application/rss+xml",
                  modified=datetime(2025, 4, 1, tzinfo=UTC))
        runner, adapter, db = await build(args, state, feed_url, slack.api_url, llm_url)
        first = await runner.run(SUBSCRIPTION)
        print(f"baseline poll: {first.status}", file=sys.stderr)

        # (2) 1,000 new items appear.
        feeds.put(FEED_PATH, rss_feed([*baseline, *fresh]), "application/rss+xml",
                  modified=datetime(2025, 6, 1, tzinfo=UTC))
        phases = Phases()
        instrument(runner, adapter, phases, feed_url)
        before = len(slack.calls_to("chat.postMessage"))
        print(f"{args.items} new items published; running the digest", file=sys.stderr)
        started = time.perf_counter()
        results = await drain(runner, max_runs=args.items + 2)
        elapsed = time.perf_counter() - started
        await close(runner, adapter, db)
        posts = slack.calls_to("chat.postMessage")[before:]

        # (3) The same state again, with a fresh runner: nothing may be posted twice.
        runner, adapter, db = await build(args, state, feed_url, slack.api_url, llm_url)
        again_started = time.perf_counter()
        again = await drain(runner, max_runs=3)
        again_s = time.perf_counter() - again_started
        await close(runner, adapter, db)
        again_posts = len(slack.calls_to("chat.postMessage")) - before - len(posts)

    shown: list[str] = []
    folded = 0
    for call in posts:
        urls, more = posted_items(call.params.get("blocks") or [])
        shown += urls
        folded += more
    expected = {feed_url.rsplit("/feeds", 1)[0] + n.path for n in fresh}
    counts = Counter(shown)
    ledger_posted = sum(r.posted for r in results)
    accounted = sum(phases.seconds.values())
    from knowledge.store import KnowledgeStore

    report: dict[str, Any] = {
        "rerun_of_existing_state": rerun, "kb": KnowledgeStore(state / "kb").stats(),
        "items": args.items, "max_items": args.max_items, "host_delay_s": args.host_delay,
        "summariser": f"LLM stub {args.llm_latency} s" if args.llm_latency else "extractive",
        "elapsed_s": round(elapsed, 2), "items_per_s": round(args.items / elapsed, 1),
        "runs": len(results), "statuses": dict(Counter(r.status for r in results)),
        "phases_s": {k: round(v, 2) for k, v in sorted(phases.seconds.items())}
        | {"other": round(elapsed - accounted, 2)},
        "phase_calls": dict(phases.calls),
        "digest_messages": len(posts), "items_in_messages": len(shown), "items_folded_as_more": folded,
        "ledger_posted": ledger_posted,
        "new_items_posted_once": sum(1 for url in expected if counts[url] == 1),
        "missing": len(expected - set(counts)), "duplicated": sum(n - 1 for n in counts.values() if n > 1),
        "unexpected": len(set(counts) - expected),
        "second_run_statuses": [r.status for r in again], "second_run_posts": again_posts,
        "second_run_s": round(again_s, 2),
        "peak_rss_mib": round(rss_mib(), 1),
        "peak_rss_children_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1000, help="new items published at once")
    parser.add_argument("--baseline", type=int, default=20, help="items the feed listed before")
    parser.add_argument("--max-items", type=int, default=10, help="items per digest (manifest max_items)")
    parser.add_argument("--host-delay", type=float, default=0.0,
                        help="Fetcher politeness delay per host in seconds (production: 1.0)")
    parser.add_argument("--llm-latency", type=float, default=None,
                        help="summarise with an LLM stub holding each request this long "
                        "(default: extractive)")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="state DB and knowledge base directory (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = args.state_dir or Path(tmp)
        state.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(run(args, state))
    if report["rerun_of_existing_state"]:
        ok = report["digest_messages"] == 0 and report["second_run_posts"] == 0
    else:
        ok = (report["new_items_posted_once"] == args.items and report["missing"] == 0
            and report["duplicated"] == 0 and report["unexpected"] == 0 and report["second_run_posts"] == 0
            and report["ledger_posted"] == args.items)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    phases = ", ".join(f"{k} {v} s" for k, v in report["phases_s"].items())
    if report["rerun_of_existing_state"]:
        print(f"rerun on the state in {args.state_dir}: {report['digest_messages']} digest messages posted, "
              f"statuses {report['statuses']} | {'PASS' if ok else 'FAIL'}")
        sys.exit(0 if ok else 1)
    print(
        f"{args.items} items in {report['elapsed_s']} s = {report['items_per_s']} items/s ({phases}) | "
        f"{report['digest_messages']} digest messages holding {report['items_in_messages']} items "
        f"(+{report['items_folded_as_more']} folded), each new item once: {report['new_items_posted_once']}"
        f"/{args.items}, duplicated {report['duplicated']} | second run posted {report['second_run_posts']} "
        f"| peak RSS {report['peak_rss_mib']} MiB | {'PASS' if ok else 'FAIL'}"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
