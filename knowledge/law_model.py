"""Which held law a question is about, learned from the staff phrasings and everyday words.

A softmax regression over the character 1–3-grams of a text (hashed, sublinear tf × idf, unit length),
one class per law with phrasings, fitted on every phrasing line and words line as an example of its
law. Unlike the term matches of the first stage it is discriminative: the n-grams of 選挙運動 or 職員
weigh for the law whose lines use them more than its neighbours' lines do, whichever article matched.
The second stage reads the log-probability of each candidate's law (knowledge/rerank.py). Trained at
ingest when the lines change (knowledge/phrasing_index.py); pure functions here.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from knowledge.ngrams import (
    HASH_BITS,
    NGRAM_SIZES,
    NgramSpace,
    ngram_counts,
    question_ngrams,
    training_digest,
)

FILE_NAME = "law_model.npz"
RIDGE = 0.1  # L2 penalty on the weights, against the summed loss
STEPS = 50  # L-BFGS iterations: 100 or 300 ranked the same (benchmarks/rerank.py) and took 2–6 × as long
FLOOR = 1e-6  # the smallest probability whose log is read (a law's here, a law not held's by the decision)
VERSION = f"1:{HASH_BITS}:{NGRAM_SIZES}:{RIDGE}:{STEPS}"  # a change retrains on the next ingest


def examples_digest(examples: Iterable[tuple[str, str]]) -> str:
    """What a model is trained on and how: an ingest that changes neither trains nothing."""
    return training_digest(VERSION, examples)


@dataclass(frozen=True, eq=False)  # arrays: compare digests
class LawModel:
    """The fitted model: the n-grams it reads, one weight column per law and a bias."""

    laws: tuple[str, ...]  # doc ids
    space: NgramSpace
    weights: npt.NDArray[np.float32]  # len(ids) × len(laws)
    bias: npt.NDArray[np.float32]
    digest: str  # examples_digest of what it was trained on

    def log_probabilities(self, text: str) -> dict[str, float]:
        """Each law's log-probability that ``text`` is about it."""
        columns, values = self.space.vector(question_ngrams(text))
        scores = values @ self.weights[columns] + self.bias
        exp = np.exp(scores - scores.max())
        probs = exp / exp.sum()
        return {law: math.log(max(float(p), FLOOR)) for law, p in zip(self.laws, probs, strict=True)}

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            laws=np.array(self.laws),
            ids=self.space.ids,
            idf=self.space.idf,
            weights=self.weights,
            bias=self.bias,
            digest=np.array(self.digest),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LawModel:
        with np.load(io.BytesIO(data), allow_pickle=False) as saved:
            return cls(
                laws=tuple(str(law) for law in saved["laws"]),
                space=NgramSpace(saved["ids"], saved["idf"]),
                weights=saved["weights"],
                bias=saved["bias"],
                digest=str(saved["digest"]),
            )


def train(
    examples: Sequence[tuple[str, str]],
    *,
    ridge: float = RIDGE,
    steps: int = STEPS,
    advance: Callable[[], None] = lambda: None,
) -> LawModel:
    """Fit the model on (law, text) examples: L-BFGS on the summed cross-entropy plus ``ridge``/2 × the
    squared weights, at most ``steps`` iterations; ``advance`` is called once per iteration. Needs
    examples of at least two laws."""
    from scipy import optimize

    names = tuple(sorted({law for law, _ in examples}))
    if len(names) < 2:
        raise ValueError("a law model needs examples of at least two laws")
    counts = [ngram_counts(text) for _, text in examples]
    space = NgramSpace.fit(counts)
    x, n = space.matrix(counts), len(examples)
    xt = x.T.tocsr()
    target = np.zeros((n, len(names)))
    target[np.arange(n), [names.index(law) for law, _ in examples]] = 1.0
    shape = (len(space.ids) + 1, len(names))  # the last row is the bias

    def loss(flat: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        w = flat.reshape(shape)
        scores = x @ w[:-1] + w[-1]
        scores -= scores.max(axis=1, keepdims=True)
        log_p = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
        residual = np.exp(log_p) - target
        value = -float((target * log_p).sum()) + ridge / 2 * float((w[:-1] ** 2).sum())
        return value, np.vstack([xt @ residual + ridge * w[:-1], residual.sum(axis=0)]).ravel()

    found = optimize.minimize(
        loss,
        np.zeros(shape[0] * shape[1]),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": steps},
        callback=lambda _: advance(),
    )
    w = found.x.reshape(shape).astype(np.float32)
    return LawModel(names, space, w[:-1], w[-1], examples_digest(examples))
