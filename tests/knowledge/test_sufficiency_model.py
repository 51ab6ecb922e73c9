"""The sufficiency decision's model: step functions, the file format, and the packaged model's shape."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from knowledge.article_model import FLOOR
from knowledge.documents import ParseError
from knowledge.sufficiency_model import (
    INPUTS,
    AdditiveModel,
    StepFunction,
    load_models,
    packaged_models,
)


def test_a_step_function_gives_each_interval_its_value_with_the_cut_itself_on_the_left() -> None:
    step = StepFunction((0.2, 0.5), (-1.0, 0.0, 2.0))
    assert [step(x) for x in (0.0, 0.2, 0.3, 0.5, 0.51, 9.0)] == [-1.0, -1.0, 0.0, 0.0, 2.0, 2.0]


def test_the_probability_is_the_logistic_of_the_bias_and_the_steps_summed() -> None:
    steps = {"phrase": StepFunction((2.0,), (0.0, 1.0)), "ranking": StepFunction((), (1.0,))}
    model = AdditiveModel(-1.0, steps)
    inputs = dict.fromkeys(INPUTS, 0.0)
    assert model.probability(inputs) == pytest.approx(0.5)  # -1 + 0 + 1
    assert model.probability({**inputs, "phrase": 3.0}) == pytest.approx(1 / (1 + 2.718281828 ** -1))


def test_the_packaged_model_moves_each_input_only_the_way_its_meaning_allows() -> None:
    models = packaged_models()
    for model in (models.phrased, models.text):
        assert model.steps, "a model that reads no input decides nothing"
        for name, step in model.steps.items():
            direction = INPUTS[name]
            rises = [b - a for a, b in zip(step.values, step.values[1:], strict=False)]
            assert all(r * direction >= -1e-9 for r in rises), name


def test_the_packaged_model_answers_strong_evidence_and_not_weak() -> None:
    phrased = packaged_models().phrased
    weak = dict.fromkeys(INPUTS, 0.0)  # reads_absent 0.0: certainly about a law not held
    strong = {
        **weak, "coverage": 0.9, "coverage_top": 0.9, "phrase_coverage": 0.8, "phrase": 3.6, "body": 3.7,
        "key": 1.0, "agreement": 1.0, "own_topic": 3.3, "ranking": 0.9, "described_top": 0.9,
        "reads_absent": math.log(FLOOR), "learned_peak": math.log(0.9), "learned_absent": math.log(FLOOR),
    }
    assert phrased.probability(strong) > 0.9
    assert phrased.probability(weak) < 0.1


def test_an_input_not_measured_adds_nothing() -> None:
    steps = {"learned_peak": StepFunction((-3.0,), (-2.0, 1.0)), "phrase": StepFunction((), (0.5,))}
    model = AdditiveModel(0.0, steps)
    inputs: dict[str, float | None] = {"learned_peak": None, "phrase": 3.0}
    assert model.probability(inputs) == pytest.approx(1 / (1 + math.exp(-0.5)))


TEXT = "text: {bias: 0, steps: {}}\n"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[1, 2]", "phrased' and 'text'"),
        ("phrased: {bias: 0, steps: {}}\n", "text: needs 'bias'"),
        ("phrased: {bias: 0, steps: {nonsense: {cuts: [], values: [0]}}}\n" + TEXT,
         "phrased.steps.nonsense: not an input"),
        ("phrased: {bias: 0, steps: {phrase: {cuts: [2, 1], values: [0, 1, 2]}}}\n" + TEXT,
         "phrased.steps.phrase: needs 'cuts' (increasing numbers)"),
        ("phrased: {bias: 0, steps: {phrase: {cuts: [1], values: [0]}}}\n" + TEXT,
         "phrased.steps.phrase: needs 'cuts'"),
        ("phrased: {bias: .nan, steps: {}}\n" + TEXT, "phrased: needs 'bias'"),
    ],
)
def test_a_malformed_model_file_names_the_file_and_the_field(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(ParseError) as raised:
        load_models(path)
    assert str(path) in str(raised.value)
    assert where in str(raised.value)
