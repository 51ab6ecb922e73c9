"""Retrieval ablation: each ingredient's measured contribution, on every question set we have.

    python benchmarks/retrieval_ablation.py --data-dir DIR [--sets NAME ...] [--json]

DIR must hold the ingested corpus and the shipped phrasings:
``kairan ingest ../shared/corpus/{xml,egov_html,markdown_japan-law,circulars} --data-dir DIR``.
Rows switch one ingredient off at a time from the full default, then build up from plain BM25.
Per set: semantic R@1 / R@5, the share of answerable questions judged sufficient and of unanswerable
ones judged insufficient. ``probe`` is lawqa_jp (金融商品取引法, 薬機法, 借地借家法 — outside the
corpus): the share judged sufficient should be low. The sufficiency model was fitted with every
ingredient on (benchmarks/sufficiency.py), so rows without one also show what the decision loses.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.sufficiency import SETS, load  # noqa: E402
from kairan.wiring import open_searcher  # noqa: E402
from knowledge.evaluation import evaluate, summarize  # noqa: E402
from knowledge.settings import SearchSettings  # noqa: E402

console = Console()
FULL = SearchSettings()
PLAIN = replace(
    FULL,
    caption_boost=0.0,
    context_boost=0.0,
    part_weights=(),
    drop_question_words=False,
    phrasing_question_words=False,
    compound_part_weight=1.0,
    phrasing_weight=0.0,
    topic_boost=0.0,
    route_min=float("inf"),
    rerank_depth=0,
    set_asides_aside=False,
)
FIRST_STAGE = replace(FULL, rerank_depth=0)


@dataclass(frozen=True)
class Variant:
    label: str
    settings: SearchSettings
    glossary: bool = True
    jargon: bool = True
    catalogue: bool = True
    aspects: bool = True


VARIANTS = [
    Variant("full default", FULL),
    Variant("- second stage (knowledge/rerank.py)", FIRST_STAGE),
    Variant("- phrasings", replace(FULL, phrasing_weight=0.0)),
    Variant("- everyday words (coverage only)", replace(FULL, article_words=False)),
    Variant("- article model (knowledge/article_model.py)", replace(FULL, article_model=False)),
    Variant("- the article model's own candidates", replace(FULL, learned_candidates=0)),
    Variant("- glossary", FULL, glossary=False),
    Variant("- staff abbreviations (knowledge/jargon.py)", FULL, jargon=False),
    Variant("- chat sentences set aside (knowledge/asides.py)", replace(FULL, set_asides_aside=False)),
    Variant("- topic catalogue (ranking and decision)", FULL, catalogue=False),
    Variant("- question aspects (knowledge/aspects.py)", FULL, aspects=False),
    Variant("- two subjects of an absent law decide", replace(FULL, foreign_topics_min=0)),
    Variant("- laws of national organs (knowledge/national_scope.py)", replace(FULL, national_scope=False)),
    Variant("- absent-law model (knowledge/absent_model.py)", replace(FULL, absent_model=False)),
    Variant("- caption/context fields", replace(FULL, caption_boost=0.0, context_boost=0.0)),
    Variant("- 附則/別表/目次 weights", replace(FULL, part_weights=())),
    Variant("- question-word removal", replace(FULL, drop_question_words=False)),
    Variant("- question words in the phrasing query", replace(FULL, phrasing_question_words=False)),
    Variant("- compound parts at 3/4 (parts count fully)", replace(FULL, compound_part_weight=1.0)),
    Variant("plain Sudachi BM25 (body only)", PLAIN, glossary=False, jargon=False, catalogue=False),
    Variant(
        "+ phrasings",
        replace(PLAIN, phrasing_weight=FULL.phrasing_weight),
        glossary=False,
        jargon=False,
        catalogue=False,
    ),
    Variant(
        "+ fields, weights, question words, compound parts",
        replace(FIRST_STAGE, topic_boost=0.0, route_min=float("inf")),
        glossary=False,
        jargon=False,
        catalogue=False,
    ),
    Variant(
        "+ glossary, staff abbreviations",
        replace(FIRST_STAGE, topic_boost=0.0, route_min=float("inf")),
        catalogue=False,
    ),
    Variant("+ topic catalogue", FIRST_STAGE),
    Variant("+ second stage (= full)", FULL),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument(
        "--sets",
        nargs="*",
        default=list(SETS),
        help="question sets by name (benchmarks/sufficiency.py lists them; default: all)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    sets = {name: load(name) for name in args.sets if SETS[name].exists()}
    searcher = open_searcher(args.data_dir)
    glossary, jargon, topics, aspects = searcher.glossary, searcher.jargon, searcher.topics, searcher.aspects
    rows: list[dict[str, Any]] = []
    with Progress(console=Console(stderr=True)) as progress:
        task = progress.add_task("ablation", total=len(VARIANTS) * len(sets))
        for variant in VARIANTS:
            searcher.settings = variant.settings
            searcher.glossary = glossary if variant.glossary else None
            searcher.jargon = jargon if variant.jargon else None
            searcher.topics = topics if variant.catalogue else None
            searcher.aspects = aspects if variant.aspects else None
            row: dict[str, Any] = {"variant": variant.label}
            for name, items in sets.items():
                summary = summarize(evaluate(items, lambda q: searcher.search(q, k=10)))
                semantic = summary["by_kind"].get("semantic")
                abstention = summary["abstention"]
                row[name] = {
                    "R@1": semantic["R@1"] if semantic else None,
                    "R@5": semantic["R@5"] if semantic else None,
                    "answerable_sufficient": abstention["answerable_sufficient_rate"],
                    "unanswerable_insufficient": abstention["accuracy"],
                }
                progress.advance(task)
            rows.append(row)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title="retrieval ablation: R@1 / R@5 · answerable sufficient · unanswerable insufficient")
    table.add_column("variant")
    for name in sets:
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(row["variant"], *(_cell(row[name]) for name in sets))
    console.print(table)


def _cell(m: dict[str, float | None]) -> str:
    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    return (
        f"{f(m['R@1'])}/{f(m['R@5'])} · {f(m['answerable_sufficient'])} · "
        f"{f(m['unanswerable_insufficient'])}"
    )


if __name__ == "__main__":
    main()
