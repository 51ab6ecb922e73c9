"""The fit of benchmarks/sufficiency.py on made-up evidence (not the benchmark)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import sufficiency
from benchmarks.sufficiency import FEATURES, fit


def made_up(seed: int, rows: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Answerable exactly when the best phrasing line matches above 3 (its log score)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(rows, len(FEATURES)))
    x[:, FEATURES.index("phrase")] = rng.uniform(2, 4, size=rows)
    return x, (x[:, FEATURES.index("phrase")] > 3).astype(float)


def test_the_fit_finds_the_input_and_the_cut_that_decide() -> None:
    model = fit(*made_up(1), rounds=100, rate=0.2)
    x, y = made_up(2)  # rows it was not fitted on
    predicted = np.array([model.probability(dict(zip(FEATURES, row, strict=True))) >= 0.5 for row in x])
    assert (predicted == y.astype(bool)).mean() > 0.97
    assert any(abs(cut - 3.0) < 0.1 for cut in model.steps["phrase"].cuts)


def test_the_fit_never_moves_an_input_against_its_direction() -> None:
    """``foreign`` may only lower the score: data where it rises with the answer gets no step for it."""
    x, y = made_up(3)
    x[:, FEATURES.index("foreign")] = y + np.random.default_rng(4).normal(0, 0.1, size=len(y))
    model = fit(x, y, rounds=100, rate=0.2)
    step = model.steps.get("foreign")
    assert step is None or all(b <= a for a, b in zip(step.values, step.values[1:], strict=False))


def test_the_shipped_models_are_measured_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["sufficiency.py", "--data-dir", str(tmp_path), "--shipped", "--write"])
    with pytest.raises(SystemExit) as stopped:
        sufficiency.main()
    assert stopped.value.code == 2
    assert "--shipped measures the models already written" in capsys.readouterr().err
