"""Document identity: one collection's ingest never replaces another collection's document or a law."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from knowledge.documents import ParseError
from knowledge.identity import Provenance
from knowledge.ingest import Ingestor, IngestReport, SourceItem, build_write, discover
from knowledge.parsers import parse_bytes, parse_file
from knowledge.store import KnowledgeStore
from knowledge.tokenize import Segmenter
from tests.conftest import CORPUS

GYOSEI_ID = "405AC0000000088"
GYOSEI_XML = CORPUS / "xml" / "405AC0000000088_20240401_504AC0100000052.xml"
GYOSEI_HTML = CORPUS / "egov_html" / "405AC0000000088_20240926_506AC0000000065.html"
LAW_MARKDOWN = CORPUS / "markdown_japan-law" / "421AC0000000066.md"


def _ingest(store: KnowledgeStore, path: Path, collection: str) -> IngestReport:
    items, errors = discover([path], collection=collection)
    assert not errors
    return Ingestor(store=store, workers=1).ingest(items)


def _stored_the_old_way(
    store: KnowledgeStore, file: Path, collection: str, segmenter: Segmenter, sha: str = "old"
) -> str:
    """Write ``file`` as ingests stored it before ids carried the collection; returns that id."""
    old = parse_file(file)
    store.write([build_write(old, SourceItem(str(file), collection, path=file), sha, segmenter)])
    return old.doc_id


def _manual(tmp_path: Path, rule: str) -> tuple[Path, Path]:
    folder = tmp_path / "city-a"
    folder.mkdir(exist_ok=True)
    manual = folder / "manual.md"
    manual.write_text(f"# 事務マニュアル\n\n{rule}\n", "utf-8")
    return folder, manual


def _texts(store: KnowledgeStore, collection: str) -> list[str]:
    rows = store.chunks.to_arrow().to_pylist()
    return [r["text"] for r in rows if r["collection"] == collection]


def test_two_collections_with_the_same_file_name_both_survive(tmp_path: Path) -> None:
    rules = {"city-a": "庁舎の会議室は午後五時まで使用できる。", "city-b": "公用車は事前に予約する。"}
    for city, rule in rules.items():
        folder = tmp_path / city
        folder.mkdir()
        (folder / "manual.md").write_text(f"# 事務マニュアル\n\n## 第1 利用\n\n{rule}\n", "utf-8")
    store = KnowledgeStore(tmp_path / "data")
    first = _ingest(store, tmp_path / "city-a", "city-a")
    second = _ingest(store, tmp_path / "city-b", "city-b")
    assert second.updated == [] and len(second.added) == 1  # a new document, not 「更新 1 件」
    assert first.added != second.added
    assert any("午後五時" in t for t in _texts(store, "city-a"))
    assert any("予約" in t for t in _texts(store, "city-b"))
    assert {d.collection for d in store.documents().values()} == {"city-a", "city-b"}


def test_a_tenant_file_named_like_a_law_leaves_the_law_alone(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path / "data")
    _ingest(store, GYOSEI_XML, "laws")
    law_chunks = store.documents()[GYOSEI_ID].chunk_count
    tenant = tmp_path / "tenant"
    tenant.mkdir()
    (tenant / f"{GYOSEI_ID}.md").write_text("# 庁内メモ\n\n行政手続法の研修は毎年四月に行う。\n", "utf-8")
    report = _ingest(store, tenant, "city-a")
    assert report.errors == [] and report.updated == []
    law = store.documents()[GYOSEI_ID]
    assert (law.collection, law.chunk_count, law.title) == ("laws", law_chunks, "行政手続法")
    assert len([r for r in store.chunks.to_arrow().to_pylist() if r["doc_id"] == GYOSEI_ID]) == law_chunks
    assert any("研修" in t for t in _texts(store, "city-a"))


def test_law_data_goes_only_into_a_law_collection(tmp_path: Path) -> None:
    """An e-Gov-shaped law file aimed at a tenant collection is refused, naming the file and why."""
    store = KnowledgeStore(tmp_path / "data")
    _ingest(store, LAW_MARKDOWN, "laws")
    before = store.documents()["421AC0000000066"]
    tenant = tmp_path / "tenant"
    tenant.mkdir()
    altered = LAW_MARKDOWN.read_text("utf-8").replace("公文書", "私文書")
    (tenant / "421AC0000000066.md").write_text(altered, "utf-8")
    report = _ingest(store, tenant, "city-a")
    assert report.documents_written == 0
    [(source, message)] = report.errors
    assert source.endswith("421AC0000000066.md")
    assert "421AC0000000066" in message and "laws" in message and "city-a" in message
    after = store.documents()["421AC0000000066"]
    assert (after.collection, after.source_sha256, after.chunk_count) == (
        "laws",
        before.source_sha256,
        before.chunk_count,
    )
    assert not any("私文書" in t for t in _texts(store, "laws"))


def test_a_law_held_by_one_law_collection_is_not_moved_by_another(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path / "data")
    ingestor = Ingestor(store=store, workers=1, law_collections=("laws", "laws-archive"))
    items, _ = discover([GYOSEI_XML], collection="laws")
    ingestor.ingest(items)
    items, _ = discover([GYOSEI_HTML], collection="laws-archive")
    report = ingestor.ingest(items)
    [(_, message)] = report.errors
    assert "laws-archive" in message and GYOSEI_ID in message
    assert store.documents()[GYOSEI_ID].collection == "laws"
    assert store.documents()[GYOSEI_ID].effective_date == "2024-04-01"


def test_a_document_stored_under_its_old_id_is_replaced_not_duplicated(
    tmp_path: Path, segmenter: Segmenter
) -> None:
    """Knowledge bases ingested before ids carried the collection: a changed file takes the new id."""
    store = KnowledgeStore(tmp_path / "data")
    folder, manual = _manual(tmp_path, "公用車は前日までに予約する。")
    assert _stored_the_old_way(store, manual, "city-a", segmenter) == "manual"
    manual.write_text("# 事務マニュアル\n\n公用車は三日前までに予約する。\n", "utf-8")
    report = _ingest(store, folder, "city-a")
    assert report.updated == ["city-a/manual"] and report.added == []
    assert set(store.documents()) == {"city-a/manual"}
    texts = _texts(store, "city-a")
    assert texts and all("三日前" in t for t in texts)


def test_a_feed_document_is_parsed_as_a_notice_whatever_its_name_or_shape() -> None:
    law_md = LAW_MARKDOWN.read_bytes()
    assert parse_bytes(law_md, str(LAW_MARKDOWN)).kind == "law"  # an admin's law file
    for source in ("https://example.lg.jp/421AC0000000066.md", "https://example.lg.jp/news/1.txt"):
        doc = parse_bytes(law_md, source, Provenance.FEED)
        assert doc.kind not in {"law", "cabinet_order", "ministerial_ordinance"}
        assert doc.doc_id != "421AC0000000066"
    url = "https://example.lg.jp/x/405AC0000000088_1.html"
    page = parse_bytes(GYOSEI_HTML.read_bytes(), url, Provenance.FEED)
    assert page.kind != "law" and page.doc_id == "example:x_405AC0000000088_1"


def test_the_egov_client_brings_only_statutes() -> None:
    with pytest.raises(ParseError, match="not e-Gov law data"):
        parse_bytes(b"# memo\n\ntext\n", "e-Gov:405AC0000000088", Provenance.EGOV)
    assert parse_bytes(GYOSEI_XML.read_bytes(), "e-Gov:405AC0000000088", Provenance.EGOV).doc_id == GYOSEI_ID


def test_a_law_overwritten_by_an_old_tenant_ingest_is_repaired_by_the_law_source(
    tmp_path: Path, segmenter: Segmenter
) -> None:
    """A knowledge base attacked before this fix: a tenant memo sits at the law's id. e-Gov repairs it."""
    store = KnowledgeStore(tmp_path / "data")
    memo = tmp_path / f"{GYOSEI_ID}.md"
    memo.write_text("# 庁内メモ\n\n行政手続法の研修は毎年四月に行う。\n", "utf-8")
    stale = dataclasses.replace(parse_file(memo), effective_date="2099-12-31")  # "newer" than the law
    assert stale.doc_id == GYOSEI_ID  # how the old version stored it
    store.write([build_write(stale, SourceItem(str(memo), "city-a", path=memo), "old", segmenter)])
    report = _ingest(store, GYOSEI_XML, "laws")
    assert report.errors == [] and report.updated == [GYOSEI_ID]
    law = store.documents()[GYOSEI_ID]
    assert (law.collection, law.kind, law.title) == ("laws", "law", "行政手続法")
    assert {r["collection"] for r in store.chunks.to_arrow().to_pylist()} == {"laws"}


def test_an_unchanged_file_stored_under_its_old_id_moves_to_the_new_one(
    tmp_path: Path, segmenter: Segmenter
) -> None:
    store = KnowledgeStore(tmp_path / "data")
    folder, manual = _manual(tmp_path, "公用車は前日までに予約する。")
    sha = hashlib.sha256(manual.read_bytes()).hexdigest()
    _stored_the_old_way(store, manual, "city-a", segmenter, sha)
    report = _ingest(store, folder, "city-a")
    assert report.unchanged == [] and report.updated == ["city-a/manual"]
    assert set(store.documents()) == {"city-a/manual"}
    again = _ingest(store, folder, "city-a")
    assert again.unchanged == [str(manual)] and again.documents_written == 0
