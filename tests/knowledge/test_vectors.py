"""The dense path end to end with a tiny real sentence-transformers model (random weights: plumbing only)."""

from pathlib import Path

import pytest
from lancedb.expr import col

pytest.importorskip("sentence_transformers")

from kairan.wiring import open_searcher
from knowledge.embeddings import SentenceTransformerEmbedder
from knowledge.ingest import Ingestor, SourceItem
from knowledge.search import Searcher, SearchSettings
from knowledge.store import KnowledgeStore
from knowledge.tokenize import Segmenter
from knowledge.vectors import VectorIndex
from tests.conftest import CORPUS
from tests.fakes.tiny_embedding_model import build_tiny_model

GYOSEI = CORPUS / "xml" / "405AC0000000088_20240401_504AC0100000052.xml"
GYOSEI_HTML = CORPUS / "egov_html" / "405AC0000000088_20240926_506AC0000000065.html"


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(model_dir=build_tiny_model(tmp_path_factory.mktemp("m") / "tiny"))


def _vector_ids(index: VectorIndex) -> set[str]:
    table = index._table()
    return {r["chunk_id"] for r in table.search().select(["chunk_id"]).limit(None).to_list()}


def test_ingest_embeds_every_chunk_once(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    store = KnowledgeStore(tmp_path)
    vectors = VectorIndex(store=store, embedder=embedder)
    stages: list[str] = []
    report = Ingestor(store=store, workers=1, vectors=vectors).ingest(
        [SourceItem(source=str(GYOSEI), collection="laws", path=GYOSEI)],
        progress=lambda stage, done, total: stages.append(stage),
    )
    assert report.vectors_written == report.chunks_written > 0
    assert "embed" in stages
    chunk_ids = {r["chunk_id"] for r in store.chunks.to_arrow().to_pylist()}
    assert _vector_ids(vectors) == chunk_ids
    # Nothing changed: nothing is embedded again.
    assert vectors.sync() == 0


def test_sync_repairs_missing_vectors(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    store = KnowledgeStore(tmp_path)
    Ingestor(store=store, workers=1).ingest([SourceItem(source=str(GYOSEI), collection="laws", path=GYOSEI)])
    vectors = VectorIndex(store=store, embedder=embedder)  # e.g. the model was configured later
    written = vectors.sync()
    assert written == store.chunks.count_rows()
    assert vectors.sync() == 0


def test_hybrid_search_fuses_rankings(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    store = KnowledgeStore(tmp_path)
    vectors = VectorIndex(store=store, embedder=embedder)
    Ingestor(store=store, workers=1, vectors=vectors).ingest(
        [SourceItem(source=str(GYOSEI), collection="laws", path=GYOSEI)]
    )
    lexical = open_searcher(tmp_path)
    hybrid = Searcher(store=store, segmenter=Segmenter(), vectors=vectors, settings=SearchSettings())
    question = "申請に対する処分の審査基準を公にしておく義務"
    lex = lexical.search(question, k=10)
    hyb = hybrid.search(question, k=10)
    assert {h.matched_by for h in lex.hits} == {"lexical"}
    assert {h.matched_by for h in hyb.hits} <= {"lexical", "dense", "hybrid"}
    assert "hybrid" in {h.matched_by for h in hyb.hits}
    # RRF scores: the fused best is a hit both rankings found.
    assert hyb.hits[0].score <= 2 / 61 + 1e-9
    assert all(a.score >= b.score for a, b in zip(hyb.hits, hyb.hits[1:], strict=False))
    # A collection filter applies to the dense side too.
    assert hybrid.search(question, collections=["other"]).hits == []


def test_sync_drops_the_vectors_of_chunks_that_are_gone(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    store = KnowledgeStore(tmp_path)
    vectors = VectorIndex(store=store, embedder=embedder)
    Ingestor(store=store, workers=1, vectors=vectors).ingest(
        [SourceItem(source=str(GYOSEI), collection="laws", path=GYOSEI)]
    )
    gone = sorted(_vector_ids(vectors))[:3]
    store.chunks.delete(col("chunk_id").isin(gone).to_sql())
    progress: list[tuple[int, int]] = []
    assert vectors.sync(progress=lambda done, total: progress.append((done, total))) == 0
    assert _vector_ids(vectors) == {r["chunk_id"] for r in store.chunks.to_arrow().to_pylist()}
    assert not set(gone) & _vector_ids(vectors)
    assert progress[-1] == (store.chunks.count_rows(), store.chunks.count_rows())


def test_ann_index_is_built_once_the_table_is_large_enough(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    store = KnowledgeStore(tmp_path)
    vectors = VectorIndex(store=store, embedder=embedder)
    Ingestor(store=store, workers=1, vectors=vectors).ingest(
        [SourceItem(source=str(GYOSEI_HTML), collection="laws", path=GYOSEI_HTML)]
    )
    rows = vectors._table().count_rows()
    assert vectors.ensure_index(min_rows=rows + 1) is False
    assert vectors.ensure_index(min_rows=rows) is True
    indices = vectors._table().list_indices()
    assert [idx.index_type for idx in indices if idx.columns == ["vector"]] == ["IvfSq"]
    hits = vectors.search("申請に対する処分の審査基準", limit=5, where=None)
    assert len(hits) == 5 and all(-1.0 <= score <= 1.0 for _, score in hits)
