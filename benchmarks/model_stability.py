"""Article-model stability: how many questions change their best article and their decision when the model
is trained again with a few more lines (an admin's own file), beside what another seed changes.

    python benchmarks/model_stability.py --data-dir DIR [--sets NAME ...]

DIR must hold the ingested corpus (see benchmarks/sufficiency.py, which also names the question sets;
default: all of them). The article model is trained three times on DIR's phrasing and words lines, each
into a copy of DIR: as they are; with ``ADDED`` (the lines an admin might write for ten articles of a
made-up 空き家条例); and as they are from another seed. Every question is searched under each, and the
script prints the share whose best article and whose decision changed: from the first to the second (the
questions whose gold or best article is one of the added ones left out) and from the first to the third.
Since each random number of training is drawn from what it is for (knowledge/article_model.py), the added
lines move a small fraction of what another seed does (docs/retrieval-history.md, *Since 4ebf647*).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.sufficiency import SETS, each_question  # noqa: E402
from kairan.wiring import open_searcher  # noqa: E402
from knowledge.article_model import ARTICLES, Recipe, train  # noqa: E402
from knowledge.phrasing_index import article_examples  # noqa: E402
from knowledge.store import KnowledgeStore  # noqa: E402

ORDINANCE = "900LOCAL0000001"  # not an e-Gov id: no benchmark question is about it
ADDED = [
    (f"{ORDINANCE}:{article}", line)
    for article, line in [
        ("1", "空き家等の適切な管理に関する条例の目的"),
        ("1", "市の空き家条例は何のためにある？"),
        ("3", "空き家の所有者の管理責任（周囲に迷惑をかけない）"),
        ("3", "空き家の持ち主は草刈りや修繕をしないといけない？"),
        ("5", "空き家の立入調査（職員が敷地に入って調べる）"),
        ("5", "空き家の敷地に職員が入って調べてもいい？"),
        ("7", "管理不全の空き家の所有者への助言・指導・勧告"),
        ("7", "危ない空き家の持ち主に市から指導や勧告をするには？"),
        ("8", "勧告に従わない所有者への命令と公表"),
        ("8", "命令に従わない空き家の所有者の名前を公表できる？"),
        ("9", "緊急安全措置（倒れそうな塀を市が最小限の措置）"),
        ("9", "台風の前に今にも落ちそうな屋根材を市が応急で押さえていい？"),
        ("10", "空き家対策審議会の設置と委員"),
        ("10", "空き家の審議会の委員は何人で誰がなる？"),
    ]
]
console = Console(stderr=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--seed", type=int, default=10, help="the other seed (default: 10)")
    args = parser.parse_args()

    lines = article_examples(KnowledgeStore(args.data_dir))
    variants: dict[str, tuple[list[tuple[str, str]], Recipe]] = {
        "as shipped": (lines, ARTICLES),
        f"+ {len(ADDED)} lines of an admin's file": (lines + ADDED, ARTICLES),
        f"another seed ({args.seed})": (lines, dataclasses.replace(ARTICLES, seed=args.seed)),
    }
    names = [n for n in args.sets if SETS[n].exists()]
    read: dict[str, dict[str, tuple[str, bool]]] = {}
    gold: dict[str, frozenset[str]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for label, (examples, recipe) in variants.items():
            copy = Path(scratch) / "kb"
            shutil.copytree(args.data_dir, copy)
            started = time.perf_counter()
            KnowledgeStore(copy).save_article_model(train(examples, recipe))
            took = time.perf_counter() - started
            console.print(f"{label}: trained on {len(examples):,} lines in {took:.1f} s")
            searcher = open_searcher(copy)
            read[label] = {}
            for name, item in each_question(names, label=label):
                found = searcher.search(item.question, k=1)
                best = f"{found.hits[0].doc_id}:{found.hits[0].article}" if found.hits else ""
                read[label][f"{name}/{item.id}"] = (best, found.sufficient)
                gold[f"{name}/{item.id}"] = frozenset(item.gold)
            shutil.rmtree(copy)

    base, added, reseeded = list(read)
    table = Table(title="article model trained again: questions whose best article / decision changed")
    for column in ("from the model as shipped to", "questions", "best article changed", "decision changed"):
        table.add_column(column)
    for label in (added, reseeded):
        keys = [k for k in read[base] if label == reseeded or not _touches(k, gold, read, base, label)]
        moved = sum(read[base][k][0] != read[label][k][0] for k in keys)
        decided = sum(read[base][k][1] != read[label][k][1] for k in keys)
        table.add_row(label, f"{len(keys):,}", _share(moved, len(keys)), _share(decided, len(keys)))
    Console().print(table)


def _touches(
    key: str, gold: dict[str, frozenset[str]], read: dict[str, dict[str, tuple[str, bool]]], *labels: str
) -> bool:
    """Whether the question is about the added file: its gold, or its best article under either model."""
    named = set(gold[key]) | {read[label][key][0] for label in labels}
    return any(article.startswith(f"{ORDINANCE}:") for article in named)


def _share(count: int, total: int) -> str:
    return f"{count:,} ({count / max(total, 1):.1%})"


if __name__ == "__main__":
    main()
