"""The sufficiency decision's calibrated model: one step function per input, summed, then a logistic.

A linear score cannot say that a best phrasing line matching at 20 is evidence and at 40 not much
more, or that a topic-catalogue match only counts once it is strong. An additive model of step
functions can, and stays readable: for each input, the cut points and what each interval adds. The
model is fitted by ``python benchmarks/sufficiency.py --write`` (boosted one-split trees, classes
balanced, monotone where the input's meaning says so) and kept in
``knowledge/data/sufficiency_model.yaml``: one model for a best hit with staff phrasings, one for a
hit judged on its text alone (an admin's 例規, a notice).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from knowledge.documents import ParseError
from knowledge.yaml_files import load_yaml

DEFAULT_MODEL = Path(__file__).resolve().parent / "data" / "sufficiency_model.yaml"

# The decision's inputs (knowledge.sufficiency.inputs), and the direction each may move the score:
# +1 more of it never lowers the confidence, -1 never raises it, 0 either way.
INPUTS: dict[str, int] = {
    "coverage": 0,  # idf share of the question in the best hits (text + phrasings)
    "coverage_top": 1,  # … in the best hit alone
    "phrase_coverage": 1,  # … in the best hit's best phrasing line
    "body": 0,  # log(1 + best body score): long statute text can match by chance
    "phrase": 1,  # log(1 + best phrasing-line score)
    "key": 0,  # the question's rarest known noun occurs in the best hits
    "agreement": 1,  # the best hit ranks high on its text and its phrasings alike
    "mentioned": -1,  # the question names a topic of a law the base does not hold
    "foreign": -1,  # log(1 + how well a law not held explains the question)
    "own_topic": 1,  # log(1 + how well a held law's catalogue lines match)
    "foreign_margin": -1,  # how much better the law not held explains it than anything held
    "ranking": 1,  # the second stage's probability that the best hit is the one asked for
    "described_top": 1,  # idf share of the question in the best hit's text and all its phrasing lines
    "reads_absent": -1,  # log-probability that the question reads as a law not held (topic_classifier.py)
    "learned_peak": 1,  # log-probability of the article it most reads as (article_model.py)
    "learned_absent": -1,  # … that it reads as a law not held, against every held law (absent_model.py)
}


@dataclass(frozen=True)
class StepFunction:
    """``values[k]`` for an input in (cuts[k-1], cuts[k]]: ``len(values) == len(cuts) + 1``."""

    cuts: tuple[float, ...]
    values: tuple[float, ...]

    def __call__(self, x: float) -> float:
        return self.values[bisect_left(self.cuts, x)]


@dataclass(frozen=True)
class AdditiveModel:
    bias: float
    steps: Mapping[str, StepFunction]  # inputs without an entry add nothing

    def probability(self, inputs: Mapping[str, float | None]) -> float:
        """An input that is None (not measured: no article model) adds nothing either."""
        z = self.bias + sum(
            step(value) for name, step in self.steps.items() if (value := inputs[name]) is not None
        )
        return 1.0 / (1.0 + math.exp(-z))

    def rounded(self) -> AdditiveModel:
        """The model as its file holds it (4 decimals): what the product decides with."""
        return AdditiveModel(
            round(self.bias, 4),
            {
                name: StepFunction(tuple(round(c, 4) for c in s.cuts), tuple(round(v, 4) for v in s.values))
                for name, s in self.steps.items()
            },
        )

    def as_data(self) -> dict[str, Any]:
        model = self.rounded()
        return {
            "bias": model.bias,
            "steps": {
                name: {"cuts": list(step.cuts), "values": list(step.values)}
                for name, step in model.steps.items()
            },
        }


@dataclass(frozen=True)
class SufficiencyModels:
    phrased: AdditiveModel  # the best hit has staff phrasings
    text: AdditiveModel  # … it has none: judged on its text alone

    def for_hit(self, phrased: bool) -> AdditiveModel:
        return self.phrased if phrased else self.text


def load_models(path: Path = DEFAULT_MODEL) -> SufficiencyModels:
    """The models in ``path``; a malformed file raises ParseError naming the file and the field."""
    raw = load_yaml(path, "the sufficiency model")
    if not isinstance(raw, dict):
        raise ParseError(f"{path}: the sufficiency model has 'phrased' and 'text' models")
    return SufficiencyModels(*(_model(raw.get(key), f"{path}: {key}") for key in ("phrased", "text")))


@cache
def packaged_models() -> SufficiencyModels:
    """The models kairan ships (read once per process)."""
    return load_models()


def _model(raw: object, where: str) -> AdditiveModel:
    if not isinstance(raw, dict) or not _number(raw.get("bias")) or not isinstance(raw.get("steps"), dict):
        raise ParseError(f"{where}: needs 'bias' (a number) and 'steps' (input name → cuts and values)")
    steps: dict[str, StepFunction] = {}
    for name, step in raw["steps"].items():
        field = f"{where}.steps.{name}"
        if name not in INPUTS:
            raise ParseError(f"{field}: not an input of the decision (one of {', '.join(INPUTS)})")
        cuts, values = (step.get(k) if isinstance(step, dict) else None for k in ("cuts", "values"))
        if (
            not isinstance(cuts, list)
            or not isinstance(values, list)
            or not all(_number(v) for v in [*cuts, *values])
            or len(values) != len(cuts) + 1
            or any(a >= b for a, b in pairwise(cuts))
        ):
            raise ParseError(
                f"{field}: needs 'cuts' (increasing numbers) and 'values' (one more number than cuts)"
            )
        steps[name] = StepFunction(tuple(map(float, cuts)), tuple(map(float, values)))
    return AdditiveModel(float(raw["bias"]), steps)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
