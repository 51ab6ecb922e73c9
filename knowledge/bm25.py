"""A small in-memory BM25 over short texts (catalogue lines), for indexes too small for LanceDB."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


class SmallBM25:
    """Okapi BM25 (k1 = 1.2, b = 0.75, the idf LanceDB uses) over already segmented documents."""

    def __init__(self, documents: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.75) -> None:
        self._k1, self._b = k1, b
        self._tf = [Counter(d) for d in documents]
        self._length = [len(d) for d in documents]
        self._average = sum(self._length) / len(documents) if documents else 1.0
        self._postings: dict[str, list[int]] = {}
        for i, counts in enumerate(self._tf):
            for term in counts:
                self._postings.setdefault(term, []).append(i)
        self._n = len(documents)

    def idf(self, term: str) -> float:
        n = len(self._postings.get(term, ()))
        return math.log(1 + (self._n - n + 0.5) / (n + 0.5))

    def scores(self, terms: Sequence[str]) -> dict[int, float]:
        """Document index → score, for the documents sharing a term with ``terms``."""
        out: dict[int, float] = {}
        for term in dict.fromkeys(terms):
            idf = self.idf(term)
            for i in self._postings.get(term, ()):
                f = self._tf[i][term]
                norm = self._k1 * (1 - self._b + self._b * self._length[i] / self._average)
                out[i] = out.get(i, 0.0) + idf * f * (self._k1 + 1) / (f + norm)
        return out
