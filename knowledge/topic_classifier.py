"""Which catalogue law a question reads like, from the character n-grams of the catalogue's lines.

The catalogue index (knowledge/law_topics.py) matches a question's words against each law's topics
and asks, one line at a time. This weighs all of a law's lines at once and below the word: a
multinomial naive Bayes over character 1–3-grams (knowledge/ngrams.py, as the article model reads them),
one class per law of the catalogue, held or not. Each n-gram of the question counts with its idf
across the laws (an n-gram every law's lines use says nothing), the counts are smoothed by ``ALPHA``
and the scores tempered by ``TEMPERATURE``. It is counted, not trained: built from the packaged
catalogue in half a second, once per process.

The sufficiency decision reads the probability of the most probable law the knowledge base does not
hold: 「固定資産税の税率」 reads as 地方税法 whichever held article shares its words.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from knowledge.ngrams import ngram_counts, question_ngrams

ALPHA = 0.3  # additive smoothing; 0.03–3 measured (benchmarks/sufficiency.py), 0.3 best left out
# The log-likelihoods are divided by this before the softmax: overlapping n-grams (each character is in
# three) are far from independent, and without it nearly every question reads as one law with
# probability 0 or 1. 1–30 measured left out; 10–30 alike, 1 and 3 well below.
TEMPERATURE = 10.0


@dataclass(frozen=True, eq=False)  # arrays
class TopicClassifier:
    """The counts as arrays: the n-grams the lines use (sorted) and, for each, the laws that use it with
    what that use adds (a compressed column: ``law_of[starts[k]:starts[k + 1]]`` for ``grams[k]``)."""

    laws: tuple[str, ...]
    grams: npt.NDArray[np.int64]  # hashed n-grams, sorted
    starts: npt.NDArray[np.int64]  # len(grams) + 1 offsets into law_of and gain
    law_of: npt.NDArray[np.int64]
    gain: npt.NDArray[np.float64]  # log(1 + count / ALPHA): what a law's own use of the n-gram adds
    idf: npt.NDArray[np.float64]  # per n-gram: log(laws / laws whose lines use it)
    unseen: npt.NDArray[np.float64]  # per law: log-probability of an n-gram its lines never use

    @classmethod
    def build(cls, lines_by_law: Iterable[tuple[str, Iterable[str]]]) -> TopicClassifier:
        """From each law's lines (a law named twice has all its lines counted as one)."""
        counts: dict[str, Counter[int]] = {}
        for law, lines in lines_by_law:
            found = counts.setdefault(law, Counter())
            for line in lines:
                found.update(ngram_counts(line))
        laws = tuple(counts)
        gram = np.array([g for law in laws for g in counts[law]], dtype=np.int64)
        row = np.array([n for n, law in enumerate(laws) for _ in counts[law]], dtype=np.int64)
        count = np.array([c for law in laws for c in counts[law].values()], dtype=np.float64)
        order = np.lexsort((row, gram))
        grams, first = np.unique(gram[order], return_index=True)
        starts = np.append(first, len(order)).astype(np.int64)
        return cls(
            laws=laws,
            grams=grams,
            starts=starts,
            law_of=row[order],
            gain=np.log1p(count[order] / ALPHA),
            idf=np.log(max(len(laws), 1) / np.maximum(np.diff(starts), 1)),
            unseen=math.log(ALPHA)
            - np.log(np.bincount(row, weights=count, minlength=len(laws)) + ALPHA * max(len(grams), 1)),
        )

    def probabilities(self, text: str) -> npt.NDArray[np.float64]:
        """Each law's probability (in ``laws`` order) that ``text`` is about it; uniform when none of
        its n-grams occurs in the catalogue."""
        counts = question_ngrams(text)
        hashed = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        place = np.minimum(np.searchsorted(self.grams, hashed), max(len(self.grams) - 1, 0))
        known = self.grams[place] == hashed if len(self.grams) else np.zeros(len(hashed), dtype=bool)
        if not known.any():
            return np.full(len(self.laws), 1.0 / max(len(self.laws), 1))
        columns = place[known]
        weights = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))[known] * self.idf[columns]
        first = self.starts[columns]
        lengths = self.starts[columns + 1] - first
        # The positions of those columns' entries, one run per column.
        at = np.repeat(first - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        scores = np.bincount(
            self.law_of[at], weights=self.gain[at] * np.repeat(weights, lengths), minlength=len(self.laws)
        )
        scores = (scores + weights.sum() * self.unseen) / TEMPERATURE
        probs = np.exp(scores - scores.max())
        return np.asarray(probs / probs.sum(), dtype=np.float64)
