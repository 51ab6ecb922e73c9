"""Query-time reads: the row cache never serves rows of another version than the reader's."""

from pathlib import Path

import pytest
from lancedb.query import MatchQuery

from knowledge.filters import FieldFilter
from knowledge.store import BODY_TERMS, KnowledgeStore
from knowledge.tokenize import Segmenter
from tests.knowledge.docs import JICHI_ID, jichi, koumuin, write_doc


@pytest.mark.parametrize("cache_rows", [100, 2, 0], ids=["whole table cached", "bounded cache", "no cache"])
def test_rows_by_id_whole_or_bounded(tmp_path: Path, segmenter: Segmenter, cache_rows: int) -> None:
    store = KnowledgeStore(tmp_path, cache_rows=cache_rows)
    write_doc(store, jichi(), segmenter)
    write_doc(store, koumuin(), segmenter)
    reader = store.reader
    assert reader is not None
    wanted = [f"{JICHI_ID}#238_4", "325AC0000000261#38", f"{JICHI_ID}#999", f"{JICHI_ID}#225"]
    for _ in range(2):  # the second round is served (partly) from the cache
        rows = reader.rows(wanted)
        assert set(rows) == {f"{JICHI_ID}#238_4", "325AC0000000261#38", f"{JICHI_ID}#225"}
        assert rows[f"{JICHI_ID}#238_4"]["title"] == "地方自治法"
        assert rows["325AC0000000261#38"]["doc_id"] == "325AC0000000261"
    assert len(reader._cache) <= cache_rows


@pytest.mark.parametrize("cache_rows", [100, 0], ids=["answered in memory", "answered by LanceDB"])
def test_full_text_returns_the_selected_columns_best_first(
    tmp_path: Path, segmenter: Segmenter, cache_rows: int, capfd: pytest.CaptureFixture[str]
) -> None:
    store = KnowledgeStore(tmp_path, cache_rows=cache_rows)
    write_doc(store, jichi(), segmenter)
    write_doc(store, koumuin(), segmenter)
    reader = store.reader
    assert reader is not None
    terms = " ".join(segmenter.query_terms("地方公共団体の職員の職務").terms)
    query = MatchQuery(terms, BODY_TERMS)  # type: ignore[call-arg]  # mypy misses Field(kw_only=True)
    rows = reader.full_text(query, ["chunk_id", "doc_id", "_score"], limit=5)
    assert len(rows) >= 2 and set(rows[0]) == {"chunk_id", "doc_id", "_score"}
    assert {r["doc_id"] for r in rows} == {JICHI_ID, "325AC0000000261"}
    assert all(r["chunk_id"].startswith(r["doc_id"] + "#") for r in rows)
    assert [r["_score"] for r in rows] == sorted((r["_score"] for r in rows), reverse=True)
    # A filter applies on both paths.
    only = reader.full_text(query, ["doc_id", "_score"], where=FieldFilter.of(doc_id=JICHI_ID), limit=5)
    assert only and {r["doc_id"] for r in only} == {JICHI_ID}
    assert len(only) < len(rows)
    # LanceDB logs (to fd 2, from Rust) a deprecation warning per query that names no _score.
    assert "Deprecation" not in capfd.readouterr().err


def test_a_new_revision_gets_a_new_reader_and_no_stale_rows(tmp_path: Path, segmenter: Segmenter) -> None:
    writer = KnowledgeStore(tmp_path)
    write_doc(writer, jichi(), segmenter)
    serving = KnowledgeStore(tmp_path)  # another process's view
    old = serving.reader
    assert old is not None
    assert old.rows([f"{JICHI_ID}#238_4"])[f"{JICHI_ID}#238_4"]["text"] != "改正後の条文。"

    write_doc(writer, jichi("20250601", text_238_4="改正後の条文。"), segmenter)
    # Until it refreshes, the serving store keeps its snapshot, cache included.
    assert serving.reader is old
    assert old.rows([f"{JICHI_ID}#238_4"])[f"{JICHI_ID}#238_4"]["text"] != "改正後の条文。"
    assert serving.refresh()
    new = serving.reader
    assert new is not old and new is not None and new.version > old.version
    assert new.rows([f"{JICHI_ID}#238_4"])[f"{JICHI_ID}#238_4"]["text"] == "改正後の条文。"
    # The writer's own reader follows its write.
    assert writer.get_rows([f"{JICHI_ID}#238_4"])[f"{JICHI_ID}#238_4"]["text"] == "改正後の条文。"
