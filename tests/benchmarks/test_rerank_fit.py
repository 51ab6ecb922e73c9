"""The fitting helpers of benchmarks/rerank.py on made-up candidates (not the benchmark)."""

from __future__ import annotations

import numpy as np

from benchmarks.rerank import FEATURES, Question, fit, recall


def made_up(seed: int, questions: int = 60, candidates: int = 8) -> list[Question]:
    """Candidates whose ``coverage`` input marks the gold one (it is never first in the given order)."""
    rng = np.random.default_rng(seed)
    made = []
    for _ in range(questions):
        x = rng.normal(size=(candidates, len(FEATURES)))
        gold = np.zeros(candidates)
        at = int(rng.integers(1, candidates))
        gold[at] = 1.0
        x[:, FEATURES.index("coverage")] = rng.uniform(0, 0.5, size=candidates)
        x[at, FEATURES.index("coverage")] = 0.9
        made.append(Question(x, gold, list(range(candidates)), []))
    return made


def test_the_fit_learns_the_input_that_marks_the_gold_article() -> None:
    weights = fit(made_up(1), steps=300)
    assert int(np.argmax(weights)) == FEATURES.index("coverage")
    assert recall(made_up(2), None)[0] == 0.0  # never first as given
    assert recall(made_up(2), weights) == (1.0, 1.0)  # first once re-ordered, on questions not fitted


def test_recall_counts_a_question_whose_gold_is_not_among_the_candidates_as_missed() -> None:
    missed = Question(np.zeros((3, len(FEATURES))), np.zeros(3), [0, 1, 2], [])
    found = Question(np.zeros((3, len(FEATURES))), np.array([1.0, 0.0, 0.0]), [0, 1, 2], [])
    assert recall([missed, found], None) == (0.5, 0.5)


def test_a_gold_article_the_stage_does_not_move_keeps_its_place() -> None:
    """Movable candidates fill places 1 and 3; the gold one without phrasings stays at place 0."""
    weights = np.zeros(len(FEATURES))
    kept = Question(np.zeros((2, len(FEATURES))), np.zeros(2), [1, 3], [0])
    moved_late = Question(np.zeros((2, len(FEATURES))), np.array([0.0, 1.0]), [1, 6], [])
    assert recall([kept], weights) == (1.0, 1.0)
    assert recall([moved_late], weights) == (0.0, 0.0)
