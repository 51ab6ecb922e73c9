"""Hashed character n-grams: what the article model and the topic classifier read."""

from __future__ import annotations

import pytest

from knowledge.ngrams import ngram_counts, question_ngrams


def test_ngrams_are_counted_after_nfkc_with_each_end_marked() -> None:
    assert ngram_counts("ＡＢ") == ngram_counts("ab")  # NFKC, lower case
    assert sum(ngram_counts("占用").values()) == 4 + 3 + 2  # " 占用 ": 1-, 2- and 3-grams
    assert ngram_counts("道路占用").keys() & ngram_counts("占用料").keys()


def test_a_question_is_counted_once_and_read_only() -> None:
    first = question_ngrams("道路占用の許可")
    assert first is question_ngrams("道路占用の許可")
    assert dict(first) == ngram_counts("道路占用の許可")
    with pytest.raises(TypeError):
        first[0] = 1  # type: ignore[index]
