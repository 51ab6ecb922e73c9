"""Hashed character n-grams of a text: what the article model and the topic classifier read.

Below the word, so that 道路占用 and 占用料 share 占用 whatever the segmenter makes of them.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from knowledge.tokenize import normalize

if TYPE_CHECKING:
    from scipy import sparse

HASH_BITS = 20  # n-gram ids: crc32 modulo 2**20 (a few 100k are used: collisions are rare)
NGRAM_SIZES = (1, 2, 3)


def ngram_counts(text: str) -> Counter[int]:
    """Hashed character n-grams of ``text`` (NFKC, lower case), a space marking each end."""
    padded = f" {normalize(text).lower()} "
    mask = (1 << HASH_BITS) - 1
    return Counter(
        zlib.crc32(padded[i : i + n].encode("utf-8")) & mask
        for n in NGRAM_SIZES
        for i in range(len(padded) - n + 1)
    )


@lru_cache(maxsize=16)
def question_ngrams(text: str) -> Mapping[int, int]:
    """``ngram_counts`` of a question, kept for its next reader: the article model and the topic
    classifier read the same question's n-grams."""
    return MappingProxyType(ngram_counts(text))


@dataclass(frozen=True, eq=False)  # arrays: compare what they were fitted on
class NgramSpace:
    """The n-grams a learned model reads, with their idf: those of two or more training texts (an
    n-gram seen once is noise). A text becomes sublinear tf × idf over them, of unit length."""

    ids: npt.NDArray[np.int64]  # sorted
    idf: npt.NDArray[np.float32]

    @classmethod
    def fit(cls, counts: Sequence[Mapping[int, int]]) -> NgramSpace:
        df: Counter[int] = Counter()
        for c in counts:
            df.update(c.keys())
        ids = np.array(sorted(i for i, k in df.items() if k >= 2), dtype=np.int64)
        n = len(counts)
        idf = np.array([math.log((1 + n) / (1 + df[i])) + 1 for i in ids], dtype=np.float32)
        return cls(ids, idf)

    @cached_property
    def _columns(self) -> dict[int, int]:
        """n-gram id → its column: a question's hundred-odd n-grams are looked up faster here than by
        searching the sorted ids."""
        return {int(i): n for n, i in enumerate(self.ids)}

    def vector(self, counts: Mapping[int, int]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """(columns, values) of a text's n-gram counts."""
        lookup = self._columns.get
        known = [(column, tf) for gram, tf in counts.items() if (column := lookup(gram)) is not None]
        columns = np.array([c for c, _ in known], dtype=np.int64)
        values = (1 + np.log(np.array([tf for _, tf in known], dtype=np.float32))) * self.idf[columns]
        norm = float(np.sqrt((values**2).sum())) or 1.0
        return columns, (values / norm).astype(np.float32)

    def matrix(self, counts: Sequence[Mapping[int, int]]) -> sparse.csr_matrix:
        """One row per text (float64; a model casts it to what it computes in)."""
        from scipy import sparse

        vectors = [self.vector(c) for c in counts]
        return sparse.csr_matrix(
            (
                np.concatenate([v for _, v in vectors]).astype(np.float64),
                np.concatenate([c for c, _ in vectors]),
                np.cumsum([0] + [len(c) for c, _ in vectors]),
            ),
            shape=(len(counts), len(self.ids)),
        )
