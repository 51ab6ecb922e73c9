"""Calibrate and measure the sufficiency decision: answer what the corpus answers, abstain otherwise.

    python benchmarks/sufficiency.py --data-dir DIR [--fit dev dev2 calibration calibration2 probe]
                                     [--check holdout]

DIR must hold the ingested corpus (``kairan ingest ../shared/corpus/{xml,egov_html,markdown_japan-law,
circulars} --data-dir DIR``). Question sets, by name:

- ``dev``, ``dev2``: ../shared/eval/{dev,dev2}.jsonl;
- ``calibration``: benchmarks/data/calibration.jsonl, staff questions written for this purpose by people
  who saw neither the dev sets nor the phrasings (answerable ones with their gold article, and questions
  about laws the corpus does not hold);
- ``calibration2``: benchmarks/data/calibration2.jsonl, 200 more questions written the same way as the
  holdout (from the statute texts alone, by two writers who saw no phrasing, catalogue or question set;
  140 semantic, 10 citation, 50 about laws not held); measured once untouched, then fitted on;
- ``holdout``: benchmarks/data/holdout.jsonl, 100 questions (70 semantic, 5 citation, 25 about laws the
  corpus does not hold, 13 of them next to a held law) written from the statute texts alone by a writer who
  saw neither the phrasings, the glossary, the catalogue nor any other question set; the check set, never
  fitted or tuned on;
- ``probe``: the Digital Agency's lawqa_jp questions (金融商品取引法, 薬機法, 借地借家法 — outside the
  corpus), all counted as questions to abstain on.

The decision (knowledge/sufficiency.py) first applies its rules (a law the question names or whose
topic it is, not in the knowledge base: insufficient), then a logistic score over the evidence. This
script fits the score's weights on the ``--fit`` sets (L2-regularised logistic regression), prints the
trade-off curve — for each threshold, the share of answerable questions judged sufficient and of
unanswerable ones judged insufficient, per set — and the weights to put in ``SufficiencyWeights``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from kairan.wiring import open_searcher  # noqa: E402
from knowledge.evaluation import EvalItem, load_dataset  # noqa: E402
from knowledge.settings import SufficiencyWeights  # noqa: E402
from knowledge.sufficiency import Evidence, inputs, judge  # noqa: E402

console = Console(stderr=True)
SHARED = ROOT.parent / "shared"
SETS = {
    "dev": SHARED / "eval" / "dev.jsonl",
    "dev2": SHARED / "eval" / "dev2.jsonl",
    "calibration": ROOT / "benchmarks" / "data" / "calibration.jsonl",
    "calibration2": ROOT / "benchmarks" / "data" / "calibration2.jsonl",
    "holdout": ROOT / "benchmarks" / "data" / "holdout.jsonl",
    "probe": SHARED / "corpus" / "lawqa_jp" / "selection.json",
}
FEATURES = [f.name for f in fields(SufficiencyWeights) if f.name != "bias"]
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.7, 0.8)


def load(name: str) -> list[EvalItem]:
    path = SETS[name]
    if name == "probe":
        samples = json.loads(path.read_text("utf-8"))["samples"]
        return [EvalItem(f"p{n}", s["問題文"], (), "unanswerable") for n, s in enumerate(samples, start=1)]
    return load_dataset(path)


def features(e: Evidence) -> list[float]:
    """The inputs of ``knowledge.sufficiency.confidence``, in ``FEATURES`` order."""
    values = inputs(e)
    return [values[name] for name in FEATURES]


def fit(x: np.ndarray, y: np.ndarray, *, ridge: float = 1e-3, steps: int = 50) -> np.ndarray:
    """Logistic regression by Newton's method (classes weighted to balance); returns [bias, *weights]."""
    xb = np.hstack([np.ones((len(x), 1)), x])
    balance = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    penalty = ridge * np.diag(np.r_[0.0, np.ones(x.shape[1])])
    w = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xb @ w))
        grad = xb.T @ ((p - y) * balance) / len(y) + penalty @ w
        hessian = (xb * (p * (1 - p) * balance)[:, None]).T @ xb / len(y) + penalty
        w -= np.linalg.solve(hessian, grad)
    return w


@dataclass(frozen=True)
class Row:
    evidence: Evidence | None  # None for an explicit citation (sufficient by rule)
    answerable: int


def _share(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 3) if flags else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--fit", nargs="*", default=["dev", "dev2", "calibration", "calibration2", "probe"])
    parser.add_argument("--check", nargs="*", default=["holdout"])
    parser.add_argument(
        "--text-only",
        action="store_true",
        help="phrasings off: the weights for a best hit that has none (text_sufficiency_weights)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    names = [n for n in dict.fromkeys(args.fit + args.check) if SETS[n].exists()]
    searcher = open_searcher(args.data_dir)
    if args.text_only:  # every best hit then counts as one without phrasings
        searcher.settings = replace(searcher.settings, phrasing_weight=0.0)
    rows: dict[str, list[Row]] = {}
    with Progress(console=console) as progress:
        for name in names:
            items = load(name)
            task = progress.add_task(f"search {name}", total=len(items))
            rows[name] = []
            for item in items:
                evidence = searcher.search(item.question, k=10).evidence  # None: an explicit citation
                rows[name].append(Row(evidence, int(item.kind != "unanswerable")))
                progress.advance(task)

    # The model being fitted is trained on its own rows; the decision below is the product's own
    # (knowledge.sufficiency.judge), with the other model as configured.
    def own(e: Evidence) -> bool:
        return e.phrased != args.text_only

    train = [
        r for n in args.fit if n in rows for r in rows[n]
        if r.evidence is not None and not r.evidence.unknown_laws and own(r.evidence)
    ]
    x = np.array([features(r.evidence) for r in train if r.evidence is not None])
    y = np.array([r.answerable for r in train], dtype=float)
    w = fit(x, y)
    fitted = {n: float(v) for n, v in zip(FEATURES, w[1:], strict=True)}
    weights = SufficiencyWeights(bias=float(w[0]), **fitted)
    configured = (
        replace(searcher.settings, text_sufficiency_weights=weights)
        if args.text_only
        else replace(searcher.settings, sufficiency_weights=weights)
    )

    def decide(r: Row, threshold: float) -> bool:
        if r.evidence is None:
            return True
        return judge(r.evidence, replace(configured, min_confidence=threshold)).sufficient

    curve = []
    for threshold in THRESHOLDS:
        point: dict[str, object] = {"threshold": threshold}
        for name, found in rows.items():
            answerable = [r for r in found if r.answerable]
            unanswerable = [r for r in found if not r.answerable]
            point[name] = {
                "answerable_sufficient": _share([decide(r, threshold) for r in answerable]),
                "unanswerable_insufficient": _share([not decide(r, threshold) for r in unanswerable]),
            }
        curve.append(point)
    report = {"fit": args.fit, "weights": asdict(weights), "curve": curve}
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"sufficiency trade-off (fitted on {', '.join(args.fit)}): answerable sufficient / "
                  "unanswerable insufficient")
    table.add_column("threshold")
    for name in rows:
        table.add_column(name + (" (check)" if name not in args.fit else ""))
    for point in curve:
        cells = [f"{point['threshold']:.2f}"]
        for name in rows:
            p = point[name]
            assert isinstance(p, dict)
            a = "-" if p["answerable_sufficient"] is None else f"{p['answerable_sufficient']:.2f}"
            u = "-" if p["unanswerable_insufficient"] is None else f"{p['unanswerable_insufficient']:.2f}"
            cells.append(f"{a} / {u}")
        table.add_row(*cells)
    Console().print(table)
    pasted = ", ".join(f"{k}={v:.3f}" for k, v in asdict(weights).items())
    name = "text_sufficiency_weights" if args.text_only else "sufficiency_weights"
    Console().print(f"{name} = SufficiencyWeights({pasted})")


if __name__ == "__main__":
    main()
