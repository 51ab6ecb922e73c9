"""Retrieval ablation: each ingredient's measured contribution on the dev set (and an abstention probe).

    python benchmarks/retrieval_ablation.py --data-dir DIR [--dataset ../shared/eval/dev.jsonl]
                                            [--probe ../shared/corpus/lawqa_jp/selection.json]

DIR must hold the ingested corpus:
``kairan ingest ../shared/corpus/{xml,egov_html,markdown_japan-law,circulars} --data-dir DIR``.
Rows switch ingredients off one at a time from the full default, then build up from plain BM25.
The probe is lawqa_jp: questions about laws mostly outside the corpus, so the share judged
sufficient should be low (some 民法 questions are genuinely answerable).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from kairan.wiring import open_searcher  # noqa: E402
from knowledge.evaluation import evaluate, load_dataset, summarize  # noqa: E402
from knowledge.settings import SearchSettings  # noqa: E402

console = Console()
FULL = SearchSettings()
PLAIN = replace(
    FULL,
    caption_boost=0.0,
    context_boost=0.0,
    part_weights=(),
    drop_question_words=False,
    require_key_noun=False,
    refuse_unknown_laws=False,
)
# (label, settings, glossary on)
VARIANTS: list[tuple[str, SearchSettings, bool]] = [
    ("full default", FULL, True),
    ("- glossary", FULL, False),
    ("- caption/context fields", replace(FULL, caption_boost=0.0, context_boost=0.0), True),
    ("- 附則/別表 weights", replace(FULL, part_weights=()), True),
    ("- question-word removal", replace(FULL, drop_question_words=False), True),
    ("- key-noun rule", replace(FULL, require_key_noun=False), True),
    ("- unknown-law rule", replace(FULL, refuse_unknown_laws=False), True),
    ("plain Sudachi BM25 (body only)", PLAIN, False),
    ("+ fields", replace(PLAIN, caption_boost=FULL.caption_boost, context_boost=FULL.context_boost), False),
    (
        "+ 附則/別表 weights",
        replace(
            PLAIN,
            caption_boost=FULL.caption_boost,
            context_boost=FULL.context_boost,
            part_weights=FULL.part_weights,
        ),
        False,
    ),
    ("+ question words", replace(FULL, require_key_noun=False, refuse_unknown_laws=False), False),
    ("+ glossary", replace(FULL, require_key_noun=False, refuse_unknown_laws=False), True),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "eval" / "dev.jsonl")
    parser.add_argument(
        "--probe", type=Path, default=ROOT.parent / "shared" / "corpus" / "lawqa_jp" / "selection.json"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    items = load_dataset(args.dataset)
    probe = (
        [s["問題文"] for s in json.loads(args.probe.read_text("utf-8"))["samples"]]
        if args.probe.exists()
        else []
    )
    searcher = open_searcher(args.data_dir)
    glossary = searcher.glossary
    rows = []
    with Progress(console=Console(stderr=True)) as progress:
        task = progress.add_task("ablation", total=len(VARIANTS))
        for label, settings, with_glossary in VARIANTS:
            searcher.settings, searcher.glossary = settings, glossary if with_glossary else None
            summary = summarize(evaluate(items, lambda q: searcher.search(q, k=10)))
            sem, abst = summary["by_kind"]["semantic"], summary["abstention"]
            false_sufficient = sum(searcher.search(q).sufficient for q in probe)
            rows.append(
                {
                    "variant": label,
                    "R@1": sem["R@1"],
                    "R@5": sem["R@5"],
                    "R@10": sem["R@10"],
                    "MRR": sem["MRR"],
                    "citation_R@1": summary["by_kind"]["citation"]["R@1"],
                    "unanswerable_insufficient": abst["accuracy"],
                    "answerable_sufficient": abst["answerable_sufficient_rate"],
                    "probe_sufficient": f"{false_sufficient}/{len(probe)}",
                }
            )
            progress.advance(task)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"retrieval ablation on {args.dataset.name} (semantic questions)")
    for column in rows[0]:
        table.add_column(column, justify="left" if column == "variant" else "right")
    for row in rows:
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()))
    console.print(table)


if __name__ == "__main__":
    main()
