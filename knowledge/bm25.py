"""A small in-memory BM25 over short texts (catalogue lines), for indexes too small for LanceDB."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


class SmallBM25:
    """Okapi BM25 (k1 = 1.2, b = 0.75, the idf LanceDB uses) over already segmented documents."""

    def __init__(self, documents: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.75) -> None:
        tf = [Counter(d) for d in documents]
        lengths = [len(d) for d in documents]
        average = sum(lengths) / len(documents) if documents else 1.0
        holders: dict[str, list[int]] = {}
        for i, counts in enumerate(tf):
            for term in counts:
                holders.setdefault(term, []).append(i)
        self._n = len(documents)
        self._df = {term: len(docs) for term, docs in holders.items()}
        # Each posting's score is fixed once the documents are: worked out here, summed per query.
        self._postings: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        for term, docs in holders.items():
            idf = self.idf(term)
            weighted = []
            for i in docs:
                f = tf[i][term]
                norm = k1 * (1 - b + b * lengths[i] / average)
                weighted.append(idf * f * (k1 + 1) / (f + norm))
            self._postings[term] = (np.array(docs, dtype=np.int64), np.array(weighted))

    def idf(self, term: str) -> float:
        n = self._df.get(term, 0)
        return math.log(1 + (self._n - n + 0.5) / (n + 0.5))

    def score_array(self, terms: Sequence[str]) -> npt.NDArray[np.float64]:
        """Every document's score, in document order (0 for those sharing no term)."""
        found = [self._postings[t] for t in dict.fromkeys(terms) if t in self._postings]
        if not found:
            return np.zeros(self._n)
        summed = np.bincount(
            np.concatenate([docs for docs, _ in found]),
            weights=np.concatenate([weights for _, weights in found]),
            minlength=self._n,
        )
        return np.asarray(summed, dtype=np.float64)

    def scores(self, terms: Sequence[str]) -> dict[int, float]:
        """Document index → score, for the documents sharing a term with ``terms``."""
        found = self.score_array(terms)
        return {int(i): float(found[i]) for i in np.flatnonzero(found)}
