"""Fit and measure the second-stage ranking (knowledge/rerank.py).

    python benchmarks/rerank.py --data-dir DIR [--fit SET …] [--check holdout … holdout12]

DIR must hold the ingested corpus (see benchmarks/sufficiency.py, which also describes the question
sets). For each semantic question the best ``rerank_depth`` articles of the first stage are read with
their inputs (``Searcher.rerank_inputs``). A listwise logistic model (softmax over each question's
candidates, the gold articles as the target, L2-regularised) is fitted on the ``--fit`` sets; the
script prints semantic R@1 / R@5 of the first stage and of the re-ordered list on every set, with each
fitted set also measured by a model fitted without it (leave one set out), and the weights to put in
``RerankWeights``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.sufficiency import ALWAYS_FITTED, CHECK_SETS, FIT_SETS, SETS, each_question  # noqa: E402
from kairan.wiring import open_searcher  # noqa: E402
from knowledge.rerank import FEATURES  # noqa: E402
from knowledge.settings import RerankWeights  # noqa: E402


@dataclass(frozen=True)
class Question:
    x: np.ndarray  # movable candidates × FEATURES, first-stage order
    gold: np.ndarray  # which movable candidates are a gold article
    slots: list[int]  # their places among the best ``rerank_depth``
    fixed_gold: list[int]  # places of gold articles the stage does not move (no phrasings)


def fit(
    questions: list[Question], *, ridge: float = 0.01, steps: int = 1500, rate: float = 0.5
) -> np.ndarray:
    """Weights on the raw inputs maximising the likelihood of the gold articles (gradient descent on
    standardised inputs; questions whose gold is not among the candidates cannot teach anything)."""
    usable = [q for q in questions if q.gold.any()]
    stacked = np.concatenate([q.x for q in usable])
    mean, scale = stacked.mean(0), stacked.std(0) + 1e-9
    w = np.zeros(len(FEATURES))
    for _ in range(steps):
        grad = ridge * w
        for q in usable:
            z = (q.x - mean) / scale
            s = z @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            grad += z.T @ (p - q.gold / q.gold.sum()) / len(usable)
        w -= rate * grad
    return w / scale  # a constant shift changes no order: the mean is dropped


def recall(questions: list[Question], weights: np.ndarray | None) -> tuple[float, float]:
    """Semantic R@1 and R@5, in the first stage's order (``weights`` None) or with the movable
    candidates re-ordered into their places (as ``Searcher.search`` does)."""
    at1 = at5 = 0
    for q in questions:
        ranking = np.arange(len(q.gold)) if weights is None else np.argsort(-(q.x @ weights), kind="stable")
        places = [slot for slot, i in zip(q.slots, ranking, strict=True) if q.gold[i]] + q.fixed_gold
        first = min(places, default=None)
        at1 += first == 0
        at5 += first is not None and first < 5
    n = max(len(questions), 1)
    return round(at1 / n, 3), round(at5 / n, 3)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument(  # the decision's fitted sets but the probe, which has no semantic questions
        "--fit", nargs="*", default=[name for name in FIT_SETS if name != ALWAYS_FITTED]
    )
    parser.add_argument("--check", nargs="*", default=CHECK_SETS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    names = [n for n in dict.fromkeys(args.fit + args.check) if SETS[n].exists()]
    searcher = open_searcher(args.data_dir)
    sets: dict[str, list[Question]] = {name: [] for name in names}
    for name, item in each_question(names, label="candidates", kinds=("semantic",)):
        found = searcher.rerank_inputs(item.question)
        movable = [(n, ref, v) for n, (ref, v) in enumerate(found) if v is not None]
        x = np.array([[v[f] for f in FEATURES] for _, _, v in movable]).reshape(-1, len(FEATURES))
        gold = np.array([ref in item.gold for _, ref, _ in movable], dtype=float)
        fixed = [n for n, (ref, v) in enumerate(found) if v is None and ref in item.gold]
        sets[name].append(Question(x, gold, [n for n, _, _ in movable], fixed))

    fitted = [n for n in args.fit if n in sets]
    w = fit([q for n in fitted for q in sets[n]])
    report: dict[str, dict[str, object]] = {}
    for name, questions in sets.items():
        row: dict[str, object] = {"first_stage": recall(questions, None), "reranked": recall(questions, w)}
        if name in fitted and len(fitted) > 1:
            without = fit([q for n in fitted if n != name for q in sets[n]])
            row["fitted_without_it"] = recall(questions, without)
        report[name] = row
    weights = RerankWeights(**{f: round(float(v), 3) for f, v in zip(FEATURES, w, strict=True)})
    if args.json:
        summary = {"fit": fitted, "weights": asdict(weights), "sets": report}
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"second stage (fitted on {', '.join(fitted)}): semantic R@1 / R@5")
    for column in ("set", "first stage", "re-ordered", "fitted without it"):
        table.add_column(column)
    for name, row in report.items():
        cells = [name + ("" if name in fitted else " (check)")]
        for key in ("first_stage", "reranked", "fitted_without_it"):
            value = row.get(key)
            cells.append("-" if value is None else "{:.2f} / {:.2f}".format(*value))  # type: ignore[misc]
        table.add_row(*cells)
    Console().print(table)
    Console().print(f"rerank_weights = {weights}")


if __name__ == "__main__":
    main()
