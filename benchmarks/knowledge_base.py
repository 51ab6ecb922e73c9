"""Knowledge-base benchmark: ingest time of the whole corpus and warm search latency.

    python benchmarks/knowledge_base.py [--corpus ../shared/corpus] [--queries ../shared/eval/dev.jsonl]
                                        [--rounds 5] [--data-dir DIR | --s3]

Prints ingest seconds and articles/s (the shipped staff phrasings included), then p50/p95/max of
``Searcher.search`` over the dev questions (after one warm-up pass), the same for plain LanceDB
full-text search (icu tokenizer) over the same chunks' text — the floor kairan's search is held to
(issue 20: no slower than it) — then the retrieval summary.
Targets: ingest < 60 s lexical, warm search p95 < 50 ms and not above plain FTS's.

``--s3`` puts the knowledge base on object storage instead: a local S3-compatible server
(moto's server mode, tests/fakes/s3_server.py) on 127.0.0.1, a fresh bucket, the same ingest
and searches through ``s3://`` (what a multi-replica deployment's bots do).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.progress import Progress, TaskID  # noqa: E402

from kairan.wiring import open_searcher  # noqa: E402
from knowledge.evaluation import evaluate, load_dataset, summarize  # noqa: E402
from knowledge.ingest import Ingestor, discover  # noqa: E402
from knowledge.phrasings import PhrasingSources  # noqa: E402
from knowledge.reader import READ_LOOP  # noqa: E402
from knowledge.store import KnowledgeStore, Location  # noqa: E402

CORPUS_DIRS = ("xml", "egov_html", "markdown_japan-law", "circulars")
console = Console(stderr=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def bench_ingest(corpus: Path, data_dir: Location) -> dict[str, float]:
    items, errors = discover([corpus / d for d in CORPUS_DIRS if (corpus / d).exists()], collection="laws")
    start = time.perf_counter()
    with Progress(console=console) as progress:
        tasks: dict[str, TaskID] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        report = Ingestor(store=KnowledgeStore(data_dir), phrasings=PhrasingSources()).ingest(
            items, progress=on_progress
        )
    seconds = time.perf_counter() - start
    for source, message in report.errors + errors:
        console.print(f"[red]error[/] {source}: {message}")
    return {
        "files": len(items),
        "documents": report.documents_written,
        "chunks": report.chunks_written,
        "errors": len(report.errors) + len(errors),
        "seconds": round(seconds, 2),
        "articles_per_s": round(report.chunks_written / seconds, 1),
    }


Latency = dict[str, float]


def bench_search(
    data_dir: Location, questions: list[str], rounds: int, tmp: Path | None
) -> tuple[Latency, Latency | None]:
    """Warm search latency; with ``tmp``, plain LanceDB FTS on the same chunks timed alternately with it
    (question by question, so both meet the same machine load)."""
    searcher = open_searcher(data_dir)
    plain = _plain_fts(data_dir, tmp) if tmp is not None else None
    for q in questions:  # warm-up: caches, index pages
        searcher.search(q)
        if plain is not None:
            plain(q)
    ours: list[float] = []
    theirs: list[float] = []
    with Progress(console=console) as progress:
        task = progress.add_task("search", total=rounds * len(questions))
        for _ in range(rounds):
            for q in questions:
                start = time.perf_counter()
                searcher.search(q)
                ours.append((time.perf_counter() - start) * 1000)
                if plain is not None:
                    start = time.perf_counter()
                    plain(q)
                    theirs.append((time.perf_counter() - start) * 1000)
                progress.advance(task)
    return _latency(ours), _latency(theirs) if theirs else None


def _latency(values: list[float]) -> Latency:
    return {
        "queries": len(values),
        "p50_ms": round(statistics.median(values), 2),
        "p95_ms": round(percentile(values, 0.95), 2),
        "max_ms": round(max(values), 2),
    }


def _plain_fts(data_dir: Location, tmp: Path) -> Callable[[str], None]:
    """Plain LanceDB full-text search on the same chunks: caption + text, LanceDB's icu tokenizer,
    the question as typed, through LanceDB's async API (the cheaper of its two)."""
    import lancedb
    import pyarrow as pa
    import pyarrow.compute as pc
    from lancedb.index import FTS

    chunks = KnowledgeStore(data_dir).chunks.to_arrow().select(["chunk_id", "caption", "text"])
    body = pc.binary_join_element_wise(chunks["caption"], chunks["text"], "\n")
    table = lancedb.connect(str(tmp / "plain")).create_table(
        "plain", pa.table({"chunk_id": chunks["chunk_id"], "body": body})
    )
    table.create_index("body", config=FTS(base_tokenizer="icu", with_position=False))

    async def open_plain() -> Any:
        db = await lancedb.connect_async(str(tmp / "plain"))
        return await db.open_table("plain")

    handle = READ_LOOP.run(open_plain())

    def run(question: str) -> None:
        async def query() -> list[dict[str, Any]]:
            builder = handle.query().nearest_to_text(question).select(["chunk_id", "_score"])
            found: list[dict[str, Any]] = await builder.limit(10).to_list()
            return found

        READ_LOOP.run(query())

    return run


def start_s3(stack: contextlib.ExitStack, tmp: Path) -> str:
    """moto's S3 server for this run (its AWS_* variables set here); returns a fresh bucket's URI."""
    from tests.fakes.s3_server import S3Server

    server = stack.enter_context(S3Server(log_path=tmp / "moto.log"))
    for name in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(server.env())
    return server.create_bucket()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--queries", type=Path, default=ROOT.parent / "shared" / "eval" / "dev.jsonl")
    parser.add_argument("--rounds", type=int, default=5)
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir", type=Path, default=None, help="keep the index here (default: a temp dir)"
    )
    where.add_argument("--s3", action="store_true", help="on a local S3-compatible server (moto) instead")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kairan-bench-") as tmp, contextlib.ExitStack() as stack:
        data_dir: Location = args.data_dir or Path(tmp)
        if args.s3:
            data_dir = f"{start_s3(stack, Path(tmp))}/kb"
        console.print(f"knowledge base: {data_dir}")
        ingest = bench_ingest(args.corpus, data_dir)
        items = load_dataset(args.queries)
        questions = [i.question for i in items]
        search, plain = bench_search(data_dir, questions, args.rounds, None if args.s3 else Path(tmp))
        searcher = open_searcher(data_dir)
        retrieval = summarize(evaluate(items, lambda q: searcher.search(q, k=10)))
    retrieval.pop("misses")
    result = {"ingest": ingest, "search": search, "plain_fts": plain, "retrieval": retrieval}
    print(json.dumps(result, ensure_ascii=False, indent=2))
    ok_ingest = ingest["seconds"] < 60
    ok_search = search["p95_ms"] < 50
    print(
        f"ingest {ingest['seconds']} s ({'OK' if ok_ingest else 'OVER'} target < 60 s), "
        f"search p95 {search['p95_ms']} ms ({'OK' if ok_search else 'OVER'} target < 50 ms)"
    )
    if plain is not None:
        ok_plain = search["p95_ms"] <= plain["p95_ms"]
        print(
            f"plain LanceDB FTS (icu) p95 {plain['p95_ms']} ms: kairan search "
            f"{'OK' if ok_plain else 'SLOWER'} (target: no slower)"
        )


if __name__ == "__main__":
    main()
