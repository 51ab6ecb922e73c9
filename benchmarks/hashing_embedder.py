"""A dependency-free embedder for scale benchmarks: hashed character bigrams, randomly projected.

BENCHMARK ONLY. It has the shape of a real model (384 dimensions, L2-normalised
float32 rows, like multilingual-e5-small) and gives texts that share wording nearby
vectors, so an approximate index over it clusters like one over a real model. It is
not a semantic model: do not configure a deployment with it. It exists because this
machine cannot download a model and a real one embeds about 50 articles/s on 2 cores,
which would make a 1M-article benchmark take days.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

_BUCKETS = 1 << 15
_SEED = 20261128


class HashingEmbedder:
    name = "hashing-bigram-benchmark"

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        rng = np.random.default_rng(_SEED)
        self._table = rng.standard_normal((_BUCKETS, dim), dtype=np.float32)

    def _embed(self, text: str) -> np.ndarray:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        if codes.size == 0:
            return np.zeros(self.dim, dtype=np.float32)
        grams = codes if codes.size == 1 else codes[:-1] * 1_000_003 + codes[1:]
        vector = self._table[grams % _BUCKETS].sum(axis=0)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def embed_documents(
        self, texts: Sequence[str], *, progress: Callable[[int, int], None] | None = None
    ) -> np.ndarray:
        out = np.vstack([self._embed(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
        if progress:
            progress(len(texts), len(texts))
        return out.astype(np.float32, copy=False)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed(text).astype(np.float32, copy=False)
