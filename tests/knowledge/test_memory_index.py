"""Full-text queries answered in memory score and rank exactly as LanceDB's own index does."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from knowledge.evaluation import load_dataset
from knowledge.filters import FieldFilter
from knowledge.memory_index import MemoryFullText
from knowledge.reader import ChunkReader, PhrasingReader, run_queries, term_query
from knowledge.search import _RANKING_FIELDS, Searcher
from knowledge.store import CHUNKS, PHRASINGS, KnowledgeStore
from tests.conftest import DEV_SET

DOCS = ["道路 占用 許可", "道路", "河川 占用 占用", ""]


def okapi(query: list[str], doc: str) -> float:
    """Okapi BM25 written out, k1 1.2 and b 0.75, LanceDB's idf."""
    docs = [d.split() for d in DOCS]
    average = sum(map(len, docs)) / len(docs)
    terms = doc.split()
    score = 0.0
    for term in query:
        n = sum(term in d for d in docs)
        idf = math.log(1 + (len(docs) - n + 0.5) / (n + 0.5))
        tf = terms.count(term)
        score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(terms) / average))
    return score


def test_scores_are_okapi_bm25_with_lancedb_constants() -> None:
    index = MemoryFullText(DOCS)
    query = ["占用", "道路", "存在しない"]
    top = index.top(query, 10)
    scored = [(n, okapi(query, d)) for n, d in enumerate(DOCS)]
    expected = sorted((p for p in scored if p[1] > 0), key=lambda p: -p[1])
    assert [n for n, _ in top] == [n for n, _ in expected]
    assert [s for _, s in top] == pytest.approx([s for _, s in expected])
    assert index.top(query, 1) == top[:1]
    allowed = np.array([False, True, True, True])
    assert index.top(query, 10, allowed) == [p for p in top if p[0] != 0]
    assert index.top([], 5) == []
    assert index.top(["道路"], 0) == []


def test_a_boost_multiplies_its_terms_score() -> None:
    index = MemoryFullText(DOCS)
    query = ["占用", "道路"]
    boosted = dict(index.top(query, 10, boosts={"道路": 0.5}))
    for n, doc in enumerate(DOCS):
        expected = okapi(["占用"], doc) + 0.5 * okapi(["道路"], doc)
        assert boosted.get(n, 0.0) == pytest.approx(expected)


def test_weighted_terms_are_written_as_repetitions_under_one_boost() -> None:
    query = term_query([(["有権者", "字"], 1.0), (["有権", "者"], 2 / 3)], "terms")
    assert query.query.split() == ["有権者", "字"] * 3 + ["有権", "者"] * 2
    assert query.boost == pytest.approx(1 / 3)
    plain = term_query([(["字"], 1.0), ([], 2 / 3)], "terms")
    assert (plain.query, plain.boost) == ("字", 1.0)


@pytest.fixture(scope="module")
def questions() -> list[str]:
    return [item.question for item in load_dataset(DEV_SET)]


def test_the_chunk_index_in_memory_matches_lancedb(
    corpus_data_dir: Path, searcher: Searcher, questions: list[str]
) -> None:
    store = KnowledgeStore(corpus_data_dir)
    version = store.chunks.version
    in_memory = ChunkReader(store.uri, CHUNKS, version)
    in_lancedb = ChunkReader(store.uri, CHUNKS, version, cache_rows=0)  # too small to hold: LanceDB answers
    scope = FieldFilter.of(collection=["laws"], kind=["law", "cabinet_order"])
    for question in questions:
        terms = searcher.segmenter.query_terms(question).terms
        expansions = searcher.glossary.expand(question) if searcher.glossary else []
        query = searcher._lexical_query(terms, expansions).body
        for where in (None, scope):
            mine = in_memory.full_text(query, _RANKING_FIELDS, where=where, limit=50)
            theirs = in_lancedb.full_text(query, _RANKING_FIELDS, where=where, limit=50)
            # LanceDB keeps scores in float32: equal to about 1e-4
            assert [r["_score"] for r in mine] == pytest.approx([r["_score"] for r in theirs], rel=1e-3)
            # the same articles, tied scores aside
            assert {r["chunk_id"] for r in mine[:40]} <= {r["chunk_id"] for r in theirs}
            if where is not None:
                assert all(
                    r["kind"] in ("law", "cabinet_order")
                    for r in in_memory.rows([r["chunk_id"] for r in mine]).values()
                )


def test_the_phrasing_index_in_memory_matches_lancedb(
    corpus_data_dir: Path, searcher: Searcher, questions: list[str]
) -> None:
    store = KnowledgeStore(corpus_data_dir)
    version = store.phrasings.version
    in_memory = PhrasingReader(store.uri, PHRASINGS, version)
    in_lancedb = PhrasingReader(store.uri, PHRASINGS, version, cache_rows=0)
    for question in questions:
        terms = searcher.segmenter.query_terms(question).terms
        query = searcher._lexical_query(terms, []).phrases
        mine = in_memory.full_text_query(query, limit=60)
        theirs = in_lancedb.full_text_query(query, limit=60)
        assert mine.coro is None and theirs.coro is not None  # answered in memory, not by LanceDB
        memory_rows, lancedb_rows = run_queries(mine, theirs)
        expected = [r["_score"] for r in lancedb_rows]
        assert [r["_score"] for r in memory_rows] == pytest.approx(expected, rel=1e-3)
        articles = list(dict.fromkeys(f"{r['doc_id']}#{r['article']}" for r in lancedb_rows))
        assert in_memory.vocabulary(articles) == in_lancedb.vocabulary(articles)  # every line's terms
        assert set(in_memory.vocabulary([*articles, "nowhere#1"])) == set(articles)
