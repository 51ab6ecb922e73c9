import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from knowledge.ingest import Ingestor, IngestReport, SourceItem, discover, prepare
from knowledge.store import KnowledgeStore
from tests.conftest import CORPUS, REPO

GYOSEI_XML = CORPUS / "xml" / "405AC0000000088_20240401_504AC0100000052.xml"
GYOSEI_HTML = CORPUS / "egov_html" / "405AC0000000088_20240926_506AC0000000065.html"
EMPTY_LAW = (
    '<?xml version="1.0" encoding="utf-8"?><Law Era="Reiwa" Lang="ja" LawType="Act" Num="001" Year="07">'
    "<LawNum>令和七年法律第一号</LawNum><LawBody><LawTitle>空の法律</LawTitle><MainProvision/></LawBody></Law>"
)


def _ingest(store: KnowledgeStore, *paths: Path, workers: int = 1) -> IngestReport:
    items, errors = discover(list(paths), collection="laws")
    report = Ingestor(store=store, workers=workers).ingest(items)
    report.errors[:0] = errors
    return report


def _snapshot(store: KnowledgeStore) -> list[tuple[str, str]]:
    return sorted((r["chunk_id"], r["sha256"]) for r in store.chunks.to_arrow().to_pylist())


def test_bad_files_are_named_and_the_rest_is_ingested(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.xml").write_text("<Law><LawBody><LawTitle>途中で", "utf-8")
    (bad / "empty.html").write_bytes(b"")
    (bad / "noarticles.xml").write_text(EMPTY_LAW, "utf-8")
    (bad / "corrupt.pdf").write_bytes(b"%PDF-1.7\n garbage that is not a pdf")
    (bad / "random.json").write_text('{"hello": "world"}', "utf-8")
    store = KnowledgeStore(tmp_path / "data")
    report = _ingest(store, bad, GYOSEI_XML, tmp_path / "missing.xml")
    failed = {Path(source).name for source, _ in report.errors}
    assert failed == {
        "broken.xml",
        "empty.html",
        "noarticles.xml",
        "corrupt.pdf",
        "random.json",
        "missing.xml",
    }
    for source, message in report.errors:
        assert message.strip(), source
    assert report.added == ["405AC0000000088"]
    assert store.stats()["documents"] == 1


def test_failed_batch_leaves_stored_data_untouched(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path / "data")
    _ingest(store, GYOSEI_XML)
    before = _snapshot(store)
    broken = tmp_path / "405AC0000000088_20250101_000000000000000.xml"
    broken.write_text(GYOSEI_XML.read_text("utf-8")[:5000], "utf-8")  # truncated newer revision
    report = _ingest(store, broken)
    assert len(report.errors) == 1 and broken.name in report.errors[0][0]
    assert _snapshot(store) == before


def test_reingesting_unchanged_files_changes_nothing(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path / "data")
    first = _ingest(store, GYOSEI_XML)
    version = store.chunks.version
    before = _snapshot(store)
    second = _ingest(store, GYOSEI_XML)
    assert first.chunks_written > 0
    assert second.unchanged == [str(GYOSEI_XML)] and second.chunks_written == 0
    assert store.chunks.version == version
    assert _snapshot(store) == before


def test_reparse_reads_unchanged_files_again_after_an_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page stored before circulars' pages were named by their circular keeps its old title until it is
    read again: unchanged files are skipped, unless ``reparse``."""
    page = CORPUS / "circulars" / "nta" / "www.nta.go.jp_law_tsutatsu_kihon_hojin_01_01_01.htm"
    doc_id = "laws/nta:law_tsutatsu_kihon_hojin_01_01_01"
    store = KnowledgeStore(tmp_path / "data")
    with monkeypatch.context() as before_upgrade:
        before_upgrade.setattr("knowledge.parsers.notice_html.series_title", lambda url: "")
        _ingest(store, page)
    assert store.documents()[doc_id].title == "第1節　納税地及び納税義務"
    items, _ = discover([page], collection="laws")
    again = Ingestor(store=store, workers=1).ingest(items)
    assert again.unchanged == [str(page)] and store.documents()[doc_id].title == "第1節　納税地及び納税義務"
    reparsed = Ingestor(store=store, workers=1).ingest(items, reparse=True)
    assert reparsed.updated == [doc_id] and reparsed.errors == []
    assert store.documents()[doc_id].title == "法人税基本通達"
    assert store.stats()["documents"] == 1


def test_batches_are_written_as_they_fill_and_a_later_newer_revision_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One-chunk batches: every document is committed before the next file is parsed.
    monkeypatch.setattr("knowledge.ingest._BATCH_CHUNKS", 1)
    store = KnowledgeStore(tmp_path / "data")
    items, _ = discover([GYOSEI_XML, GYOSEI_HTML, GYOSEI_XML], collection="laws")
    stages: list[tuple[str, int, int]] = []
    report = Ingestor(store=store, workers=1).ingest(items, progress=lambda *a: stages.append(a))
    assert report.added == ["405AC0000000088"] and report.updated == []
    assert report.superseded == [
        f"{GYOSEI_XML} (older than {GYOSEI_HTML})",
        f"{GYOSEI_XML} (older than {GYOSEI_HTML})",
    ]
    doc = store.documents()["405AC0000000088"]
    assert doc.effective_date == "2024-09-26"
    assert {r["revision_id"] for r in store.chunks.to_arrow().to_pylist()} == {doc.revision_id}
    assert store.chunks.count_rows() == doc.chunk_count
    writes = [s for s in stages if s[0] == "write"]
    assert len(writes) == 2 and writes[-1][1] == report.chunks_written

def test_newer_revision_replaces_and_older_is_refused(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path / "data")
    _ingest(store, GYOSEI_XML)
    assert store.documents()["405AC0000000088"].effective_date == "2024-04-01"
    report = _ingest(store, GYOSEI_HTML)
    assert report.updated == ["405AC0000000088"]
    doc = store.documents()["405AC0000000088"]
    assert doc.effective_date == "2024-09-26"
    revisions = {r["revision_id"] for r in store.chunks.to_arrow().to_pylist()}
    assert revisions == {doc.revision_id}
    assert store.chunks.count_rows() == doc.chunk_count
    older = _ingest(store, GYOSEI_XML)
    assert older.documents_written == 0 and len(older.superseded) == 1
    # Both revisions in one batch: the newer one wins.
    fresh = KnowledgeStore(tmp_path / "fresh")
    both = _ingest(fresh, GYOSEI_XML, GYOSEI_HTML, workers=2)
    assert both.added == ["405AC0000000088"] and len(both.superseded) == 1
    assert fresh.documents()["405AC0000000088"].effective_date == "2024-09-26"


def test_in_memory_items_are_ingested(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path / "data")
    item = SourceItem(source="e-Gov:405AC0000000088", collection="laws", data=GYOSEI_XML.read_bytes())
    report = Ingestor(store=store, workers=1).ingest([item])
    assert report.added == ["405AC0000000088"]


_KILL_SCRIPT = """
import sys
from pathlib import Path
from knowledge.ingest import Ingestor, discover
from knowledge.store import KnowledgeStore
items, _ = discover([Path(p) for p in sys.argv[2:]], collection="laws")
def progress(stage, done, total):
    print(stage, done, total, flush=True)
Ingestor(store=KnowledgeStore(Path(sys.argv[1])), workers=1).ingest(items, progress=progress)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_kill_during_ingest_keeps_previous_index_and_rerun_completes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = KnowledgeStore(data)
    _ingest(store, GYOSEI_XML)
    before = _snapshot(store)
    big = [CORPUS / "egov_html", CORPUS / "markdown_japan-law"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(data), *map(str, big)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    ) as proc:
        assert proc.stdout is not None
        deadline = time.monotonic() + 240
        for line in proc.stdout:  # kill as soon as the write stage has begun
            if line.startswith("write") or time.monotonic() > deadline:
                break
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # The batch is one commit: the store holds exactly the old state or the whole new batch, nothing between.
    reopened = KnowledgeStore(data)
    documents = reopened.documents()
    assert _snapshot(reopened) == before or len(documents) == 26
    assert reopened.stats()["chunks"] == sum(d.chunk_count for d in documents.values())
    from kairan.wiring import open_searcher

    result = open_searcher(data).search("行政手続法5条")
    assert result.hits and result.hits[0].doc_id == "405AC0000000088"

    report = _ingest(KnowledgeStore(data), *big, workers=2)
    assert not report.errors
    final = KnowledgeStore(data)
    assert final.stats()["documents"] == 19 + 7  # the 行政手続法 HTML revision replaced the XML one
    assert final.stats()["chunks"] == sum(d.chunk_count for d in final.documents().values())


def test_a_run_stopped_before_the_index_build_is_indexed_by_the_next_run(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path / "data")
    items, _ = discover([GYOSEI_XML], collection="laws")
    Ingestor(store=store, workers=1).ingest(items)
    assert store.indexes_current()
    # Simulate a run killed after its commit: rows written, indexes and term stats not rebuilt.
    html, _ = discover([GYOSEI_HTML], collection="laws")
    write = prepare(html[0]).write
    assert write is not None
    store.write([write])
    assert not store.indexes_current()
    again = Ingestor(store=store, workers=1).ingest(html)
    assert again.unchanged == [str(GYOSEI_HTML)] and again.documents_written == 0
    assert store.indexes_current()
    assert store.term_stats().doc_count == store.chunks.count_rows() == len(write.chunks)


def test_a_store_without_the_document_index_gets_it_from_the_next_ingest(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path / "data")
    items, _ = discover([GYOSEI_XML], collection="laws")
    Ingestor(store=store, workers=1).ingest(items)
    indexed = {idx.columns[0] for idx in store.chunks.list_indices()}
    assert {"chunk_id", "doc_id"} <= indexed
    # A store written by a release that indexed chunk ids only.
    store.chunks.drop_index(next(i.name for i in store.chunks.list_indices() if i.columns[0] == "doc_id"))
    assert not store.indexes_current()
    again = Ingestor(store=store, workers=1).ingest(items)
    assert again.documents_written == 0
    assert "doc_id" in {idx.columns[0] for idx in store.chunks.list_indices()}
    assert store.indexes_current()
