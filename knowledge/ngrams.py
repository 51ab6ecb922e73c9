"""Hashed character n-grams of a text: what the law model and the topic classifier read.

Below the word, so that 道路占用 and 占用料 share 占用 whatever the segmenter makes of them.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

from knowledge.tokenize import normalize

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
    """``ngram_counts`` of a question, kept for its next reader: the law model and the topic
    classifier read the same question's n-grams."""
    return MappingProxyType(ngram_counts(text))
