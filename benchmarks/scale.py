"""The knowledge base at scale: build time, search latency and memory at 100k and 1M articles.

    python benchmarks/scale.py --chunks 100000 [--hybrid] [--work-dir DIR] [--rounds 5]
    python benchmarks/scale.py --chunks 1000000 --hybrid

1. generate — realistic variants of the real corpus (benchmarks/scale_corpus.py: own law ids,
   titles, numbering, about a quarter of the wording changed) written as law Markdown until,
   with the real corpus itself, there are ``--chunks`` articles;
2. ingest — the real corpus plus the variants through ``knowledge.ingest.Ingestor`` (2 worker
   processes; the shipped staff phrasings, which cover the real corpus's laws), timed up to the
   index stage (articles/s) and then the index build;
3. vectors (``--hybrid``) — every article embedded with a 384-dimension benchmark embedder
   (benchmarks/hashing_embedder.py) and an IVF-SQ index built;
4. search — in a fresh process, so its memory is the searcher's alone: one warm-up pass over the
   dev questions, then ``--rounds`` timed passes; p50/p95/max, resident memory (VmRSS, VmHWM) and
   recall of the dev gold articles among all the variants.

The work directory is kept and reused (``--work-dir``, default /tmp/kairan-scale-<chunks>):
rerun with the same ``--chunks`` to measure search again without rebuilding; ``--rebuild`` starts over.
Targets (issue 10, at 1M): lexical p95 ≤ 50 ms, hybrid p95 ≤ 100 ms, resident memory ≤ 4 GiB,
ingest ≥ 1,000 articles/s.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

from benchmarks.hashing_embedder import HashingEmbedder  # noqa: E402
from benchmarks.scale_corpus import Vocabulary, render_markdown, variants  # noqa: E402
from knowledge.documents import DocKind  # noqa: E402
from knowledge.ingest import Ingestor, discover  # noqa: E402
from knowledge.parsers import parse_bytes  # noqa: E402
from knowledge.phrasings import PhrasingSources  # noqa: E402
from knowledge.store import KnowledgeStore  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"
CORPUS_DIRS = ("xml", "egov_html", "markdown_japan-law", "circulars")
GIB = 1024**3
console = Console(stderr=True)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def corpus_sources() -> list[Path]:
    return [CORPUS / d for d in CORPUS_DIRS if (CORPUS / d).exists()]


# -- 1. generate ------------------------------------------------------------------------------
def generate(src: Path, target_chunks: int) -> dict[str, Any]:
    marker = src / ".complete"
    if marker.exists() and marker.read_text() == str(target_chunks):
        files = sum(1 for _ in src.glob("*.md"))
        console.print(f"variants: reusing {files} files in {src}")
        return {"files": files, "seconds": 0.0, "reused": True}
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    start = time.perf_counter()
    items, errors = discover(corpus_sources(), collection="laws")
    bases = []
    for item in items:
        assert item.path is not None
        doc = parse_bytes(item.path.read_bytes(), item.source)
        if doc.kind is not DocKind.QA and len(doc.sections) >= 3:
            bases.append(doc)
    real_chunks = sum(len(d.sections) for d in bases)
    vocab = Vocabulary.from_documents(bases)
    wanted = max(0, target_chunks - real_chunks)
    files = chunks = 0
    with progress_bar() as bar:
        task = bar.add_task("generate variants", total=wanted)
        for doc in variants(bases, vocab, target_chunks=wanted):
            (src / f"{doc.doc_id}.md").write_text(render_markdown(doc), "utf-8")
            files += 1
            chunks += len(doc.sections)
            bar.update(task, completed=min(chunks, wanted))
    marker.write_text(str(target_chunks))
    return {
        "bases": len(bases),
        "vocabulary": len(vocab.words),
        "files": files,
        "variant_articles": chunks,
        "seconds": round(time.perf_counter() - start, 1),
        "errors": len(errors),
    }


# -- 2. ingest --------------------------------------------------------------------------------
def ingest(src: Path, kb: Path) -> dict[str, Any]:
    items, errors = discover([*corpus_sources(), src], collection="laws")
    store = KnowledgeStore(kb)
    marks: dict[str, float] = {}
    start = time.perf_counter()
    with progress_bar() as bar:
        tasks: dict[str, Any] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            marks.setdefault(stage, time.perf_counter())
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        report = Ingestor(store=store, workers=2, phrasings=PhrasingSources()).ingest(
            items, progress=on_progress
        )
    end = time.perf_counter()
    index_start = marks.get("index", end)
    load_seconds = index_start - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {
        "files": len(items),
        "documents": report.documents_written,
        "articles": report.chunks_written,
        "errors": len(report.errors) + len(errors),
        "parse_segment_write_s": round(load_seconds, 1),
        "articles_per_s": round(report.chunks_written / load_seconds, 1),
        "index_s": round(end - index_start, 1),
        "total_s": round(end - start, 1),
        "peak_rss_gib_parent": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB, 2),
        "peak_rss_gib_worker": round(children / GIB, 2),
    }


# -- 3. vectors -------------------------------------------------------------------------------
def build_vectors(kb: Path) -> dict[str, Any]:
    from knowledge.vectors import VectorIndex

    vectors = VectorIndex(store=KnowledgeStore(kb), embedder=HashingEmbedder())
    start = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task("embed", total=None)
        written = vectors.sync(progress=lambda done, total: bar.update(task, completed=done, total=total))
    embedded = time.perf_counter()
    console.print("building the IVF-SQ vector index …")
    vectors.ensure_index()
    return {
        "vectors": written,
        "embed_s": round(embedded - start, 1),
        "ann_index_s": round(time.perf_counter() - embedded, 1),
    }


# -- 4. search (child process) ----------------------------------------------------------------
def memory() -> dict[str, float]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) * 1024 / GIB, 3)
    return fields


def search_child(kb: Path, *, hybrid: bool, rounds: int) -> dict[str, Any]:
    from kairan.wiring import open_searcher
    from knowledge.evaluation import evaluate, load_dataset, summarize
    from knowledge.vectors import VectorIndex

    opened = time.perf_counter()
    searcher = open_searcher(kb)
    if hybrid:
        searcher.vectors = VectorIndex(store=searcher.store, embedder=HashingEmbedder())
    items = load_dataset(DEV)
    questions = [i.question for i in items]
    for q in questions:  # warm-up: caches and index pages
        searcher.search(q)
    warm_s = time.perf_counter() - opened
    latencies: list[float] = []
    with progress_bar() as bar:
        task = bar.add_task("hybrid search" if hybrid else "lexical search", total=rounds * len(questions))
        for _ in range(rounds):
            for q in questions:
                start = time.perf_counter()
                searcher.search(q)
                latencies.append((time.perf_counter() - start) * 1000)
                bar.advance(task)
    retrieval = summarize(evaluate(items, lambda q: searcher.search(q, k=10)))
    semantic = retrieval["by_kind"].get("semantic", {})
    return {
        "mode": "hybrid" if hybrid else "lexical",
        "queries": len(latencies),
        "open_and_warm_s": round(warm_s, 1),
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "max_ms": round(max(latencies), 1),
        "rss_gib": memory(),
        "dev_semantic": {k: v for k, v in semantic.items() if k != "count"},
        "dev_abstention": retrieval["abstention"],
    }


def search(kb: Path, *, hybrid: bool, rounds: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", "search", "--kb", str(kb), "--rounds", str(rounds)]
    out = subprocess.run([*cmd, *(["--hybrid"] if hybrid else [])], check=True, stdout=subprocess.PIPE)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=100_000, help="articles in the scaled knowledge base")
    parser.add_argument(
        "--hybrid", action="store_true", help="also embed every article and time hybrid search"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--rebuild", action="store_true", help="regenerate and re-ingest even if present")
    parser.add_argument("--phase", choices=["search"], help=argparse.SUPPRESS)
    parser.add_argument("--kb", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "search":
        print(json.dumps(search_child(args.kb, hybrid=args.hybrid, rounds=args.rounds)))
        return

    work = args.work_dir or Path(f"/tmp/kairan-scale-{args.chunks}")
    if args.rebuild:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    src, kb = work / "variants", work / "kb"
    console.print(f"work directory {work}")
    result: dict[str, Any] = {"target_articles": args.chunks, "generate": generate(src, args.chunks)}
    built = kb / ".complete"
    if built.exists() and built.read_text() == str(args.chunks):
        console.print(f"knowledge base: reusing {kb}")
    else:
        shutil.rmtree(kb, ignore_errors=True)
        result["ingest"] = ingest(src, kb)
        built.write_text(str(args.chunks))
    result["size_gib"] = round(sum(f.stat().st_size for f in kb.rglob("*") if f.is_file()) / GIB, 2)
    result["lexical"] = search(kb, hybrid=False, rounds=args.rounds)
    if args.hybrid:
        vectors_built = kb / ".vectors-complete"
        if not vectors_built.exists():
            result["vectors"] = build_vectors(kb)
            vectors_built.write_text("ok")
        result["hybrid"] = search(kb, hybrid=True, rounds=args.rounds)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    summary = [f"{args.chunks:,} articles:"]
    if "ingest" in result:
        rate = result["ingest"]["articles_per_s"]
        summary.append(f"ingest {rate:,.0f} articles/s ({'OK' if rate >= 1000 else 'UNDER'} ≥ 1,000)")
    for mode, target in (("lexical", 50), ("hybrid", 100)):
        if mode in result:
            p95, rss = result[mode]["p95_ms"], result[mode]["rss_gib"]["VmHWM"]
            summary.append(f"{mode} p95 {p95} ms ({'OK' if p95 <= target else 'OVER'} ≤ {target})")
            summary.append(f"{mode} peak RSS {rss} GiB ({'OK' if rss <= 4 else 'OVER'} ≤ 4)")
    print("; ".join(summary))


if __name__ == "__main__":
    main()
