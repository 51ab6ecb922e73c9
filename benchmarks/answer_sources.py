"""Which sources an extractive answer shows: the right article, and how many others beside it.

    python benchmarks/answer_sources.py --data-dir DIR [--sets NAME ...] [--json]

DIR must hold the ingested corpus (see benchmarks/sufficiency.py). For every semantic question the search
judges sufficient, the answer shows its best source and those close to it (bot/answer_text.py's
``relevant_sources``, at most three). Printed per rule and threshold: the share of those answers that
show the gold article, the sources shown per answer, and the share showing one source only — for the
rule by the search's score (the best's share) and by the second stage's probability (over the best's;
the score where the stage did not weigh both), the shipped thresholds marked. The fitted sets and the
check sets (``holdout*``, in aggregate only) are reported apart: choose on the first, read the second.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.sufficiency import CHECK_SETS, SETS, each_question  # noqa: E402
from bot.answer_text import CLOSE_LIKELIHOOD, CLOSE_TO_BEST, relevant_sources  # noqa: E402
from bot.models import Source  # noqa: E402
from bot.prompt import sources_from_hits  # noqa: E402
from kairan.wiring import open_searcher  # noqa: E402

SCORE_SHARES = (0.6, 0.75, 0.85, 0.95)
LIKELIHOODS = (0.05, 0.1, 0.2, 0.3, 0.5)


@dataclass(frozen=True)
class Answered:
    """One answered semantic question: its gold articles and the sources the search gave."""

    gold: frozenset[str]
    sources: list[Source]


def answered(data_dir: Path, names: list[str]) -> dict[str, list[Answered]]:
    searcher = open_searcher(data_dir)
    found: dict[str, list[Answered]] = {name: [] for name in names}
    for name, item in each_question(names, label="search", kinds=("semantic",)):
        result = searcher.search(item.question, k=5)
        if result.sufficient:
            found[name].append(Answered(frozenset(item.gold), sources_from_hits(result.hits)))
    return found


def shown(rows: list[Answered], *, likelihood: float | None, score: float) -> dict[str, float]:
    gold = many = one = 0
    for row in rows:
        kept = relevant_sources(row.sources, likelihood=likelihood, score=score)
        gold += any(f"{s.doc_id}:{s.article}" in row.gold for s in kept)
        many += len(kept)
        one += len(kept) == 1
    n = max(len(rows), 1)
    return {
        "gold_shown": gold / n, "sources_per_answer": many / n, "one_source": one / n, "answers": len(rows)
    }


def rules() -> list[tuple[str, float | None, float]]:
    """(label, likelihood, score) for each rule and threshold, the shipped one marked."""
    by_score: list[tuple[str, float | None, float]] = [
        (f"score ≥ {share:g} × best" + (" (the fallback)" if share == CLOSE_TO_BEST else ""), None, share)
        for share in SCORE_SHARES
    ]
    by_likelihood: list[tuple[str, float | None, float]] = [
        (f"probability ≥ {p:g} × best" + (" (shipped)" if p == CLOSE_LIKELIHOOD else ""), p, CLOSE_TO_BEST)
        for p in LIKELIHOODS
    ]
    return by_score + by_likelihood


def _cell(figures: dict[str, float]) -> str:
    return f"{figures['gold_shown']:.3f} / {figures['sources_per_answer']:.2f} / {figures['one_source']:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--sets", nargs="+", default=[n for n in SETS if n != "probe"], choices=list(SETS))
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    args = parser.parse_args(argv)
    found = answered(args.data_dir, args.sets)
    groups = {
        "fitted": [n for n in args.sets if n not in CHECK_SETS],
        "checks": [n for n in args.sets if n in CHECK_SETS],
    }
    report = {
        label: {
            group: shown([r for n in names for r in found[n]], likelihood=p, score=share)
            for group, names in groups.items()
            if names
        }
        for label, p, share in rules()
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return 0
    table = Table(title="sources an extractive answer shows (answered semantic questions)")
    table.add_column("rule")
    for group in report[next(iter(report))]:
        table.add_column(f"{group}: gold shown / sources / one only", justify="right")
    for label, cells in report.items():
        table.add_row(label, *(_cell(c) for c in cells.values()))
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
