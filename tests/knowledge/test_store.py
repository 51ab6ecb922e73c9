from pathlib import Path

import pytest

from knowledge.chunks import chunks_from_document, validate_id
from knowledge.store import KnowledgeStore
from knowledge.tokenize import Segmenter
from tests.knowledge.docs import JICHI_ID, jichi, koumuin, write_doc


def test_chunks_carry_ids_links_and_hashes() -> None:
    chunks = chunks_from_document(jichi(), collection="laws")
    by_article = {c.article: c for c in chunks}
    c = by_article["238_4"]
    assert c.chunk_id == f"{JICHI_ID}#238_4"
    assert c.url == f"https://laws.e-gov.go.jp/law/{JICHI_ID}#Mp-At_238_4"
    assert c.path == "第二編　普通地方公共団体 / 第九章　財務 / 第九節　財産 / 第一款　公有財産"
    assert c.citation_label == "地方自治法 第二百三十八条の四"
    assert len(c.sha256) == 64
    # 附則 are kept, labelled and link to the law page, not to a main-provision anchor.
    assert by_article["suppl0_1"].part == "suppl"
    assert by_article["suppl0_1"].url == f"https://laws.e-gov.go.jp/law/{JICHI_ID}"


def test_ids_are_restricted_to_a_safe_alphabet() -> None:
    with pytest.raises(ValueError, match="may contain only"):
        validate_id("x' OR 1=1 --", "document id")


def test_new_revision_replaces_old_chunks(tmp_path: Path, segmenter: Segmenter) -> None:
    store = KnowledgeStore(tmp_path)
    write_doc(store, jichi("20240401", extra=True), segmenter)
    write_doc(store, koumuin(), segmenter)
    assert store.stats() == {"documents": 2, "chunks": 5}
    # The newer revision no longer has article 242: it must disappear, other laws untouched.
    write_doc(store, jichi("20250601", text_238_4="改正後の条文。"), segmenter)
    rows = store.chunks.to_arrow().to_pylist()
    jichi_rows = {r["article"]: r for r in rows if r["doc_id"] == JICHI_ID}
    assert set(jichi_rows) == {"225", "238_4", "suppl0_1"}
    assert jichi_rows["238_4"]["text"] == "改正後の条文。"
    assert {r["revision_id"] for r in jichi_rows.values()} == {f"{JICHI_ID}_20250601_504AC0000000068"}
    assert sum(r["doc_id"] == "325AC0000000261" for r in rows) == 1
    assert store.documents()[JICHI_ID].effective_date == "2025-06-01"


def test_get_articles_and_titles(tmp_path: Path, segmenter: Segmenter) -> None:
    store = KnowledgeStore(tmp_path)
    write_doc(store, jichi(), segmenter)
    write_doc(store, koumuin(), segmenter)
    rows = store.get_articles([(JICHI_ID, "238_4"), ("325AC0000000261", "38"), (JICHI_ID, "999")])
    assert set(rows) == {(JICHI_ID, "238_4"), ("325AC0000000261", "38")}
    assert sorted(store.law_titles()) == [("地方公務員法", "325AC0000000261"), ("地方自治法", JICHI_ID)]
