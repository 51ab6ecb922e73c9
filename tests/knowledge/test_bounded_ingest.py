"""Bounded ingest (issue 16 #4): hostile files cost bounded time and memory, are reported and skipped."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

# reportlab ships no type information, and its stubs (types-reportlab) are not a dev dependency.
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfgen import canvas

from knowledge.chunks import MAX_SECTION_CHARS, chunks_from_document
from knowledge.documents import DocKind, ParsedDocument, ParsedSection
from knowledge.ingest import Ingestor, discover
from knowledge.limits import Budget, IngestLimits, LimitExceeded
from knowledge.parsers import parse_bytes
from knowledge.store import KnowledgeStore
from knowledge.tokenize import _SUDACHI_MAX_BYTES, _pieces
from tests.conftest import CORPUS
from tests.knowledge.bombs import one_line_text, pdf_deflate_bomb

GYOSEI_ID = "405AC0000000088"
GYOSEI_XML = CORPUS / "xml" / "405AC0000000088_20240401_504AC0100000052.xml"
GYOSEI_HTML = CORPUS / "egov_html" / "405AC0000000088_20240926_506AC0000000065.html"


def test_segmenting_one_enormous_line_is_linear() -> None:
    text = one_line_text(20 * 1024 * 1024).decode("utf-8")
    started = time.perf_counter()
    pieces = list(_pieces(text))
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{elapsed:.1f} s to split 20 MB: quadratic"
    assert "".join(pieces) == text
    assert all(len(p.encode("utf-8")) <= _SUDACHI_MAX_BYTES for p in pieces)
    assert all(p.endswith("。") for p in pieces[:-1])  # cut after a sentence where one is in reach


def test_an_over_long_section_is_split_into_parts() -> None:
    text = one_line_text(3 * 1024 * 1024).decode("utf-8")
    doc = ParsedDocument(
        doc_id="memo", kind=DocKind.DOCUMENT, title="メモ",
        sections=(ParsedSection("s1", "s1", text), ParsedSection("s2", "s2", "短い節。")),
    )
    chunks = chunks_from_document(doc, collection="city-a")
    assert len(chunks) > 2
    assert all(len(c.text) <= MAX_SECTION_CHARS for c in chunks)
    parts = [c for c in chunks if c.article == "s1" or c.article.startswith("s1~p")]
    assert parts[0].article == "s1" and "".join(c.text for c in parts) == text
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    assert parts[1].label == f"s1（2/{len(parts)}）"
    assert chunks[-1].text == "短い節。"
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


@pytest.mark.parametrize(
    "filters", [("FlateDecode",), ("ASCII85Decode", "FlateDecode"), ("FlateDecode", "FlateDecode")]
)
def test_a_pdf_deflate_bomb_is_refused_before_it_is_inflated(filters: tuple[str, ...]) -> None:
    bomb = pdf_deflate_bomb(filters=filters)  # 31 KB (or less) → 20 MB of text operators
    assert len(bomb) < 40_000
    started = time.perf_counter()
    with pytest.raises(LimitExceeded, match=r"bomb\.pdf: .*展開後のデータ量.*8 MB.*skipped"):
        parse_bytes(bomb, "notices/bomb.pdf")
    assert time.perf_counter() - started < 10


def test_text_drawn_on_one_pdf_page_is_capped() -> None:
    """A bomb below the decompression floor still cannot lay out millions of characters."""
    small_bomb = pdf_deflate_bomb(2 * 1024 * 1024)
    started = time.perf_counter()
    with pytest.raises(LimitExceeded, match=r"1 ページの文字数.*50,000 characters"):
        parse_bytes(small_bomb, "bomb2.pdf")
    assert time.perf_counter() - started < 15


def test_capped_files_are_reported_and_skipped_and_the_rest_is_ingested(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path / "data")
    Ingestor(store=store, workers=1).ingest(discover([GYOSEI_XML], collection="laws")[0])
    law = store.documents()[GYOSEI_ID]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "bomb.pdf").write_bytes(pdf_deflate_bomb())
    (folder / "one-line.txt").write_bytes(one_line_text(2 * 1024 * 1024))
    report = Ingestor(store=store, workers=1).ingest(discover([folder], collection="city-a")[0])
    [(source, message)] = report.errors
    assert source.endswith("bomb.pdf") and "skipped" in message
    assert report.added == ["city-a/one-line"]
    rows = [r for r in store.chunks.to_arrow().to_pylist() if r["doc_id"] == "city-a/one-line"]
    assert len(rows) > 30 and max(len(r["text"]) for r in rows) <= MAX_SECTION_CHARS
    assert store.documents()[GYOSEI_ID] == law  # what was stored stays as it was


def test_a_file_over_the_time_limit_is_skipped_without_touching_the_store(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path / "data")
    Ingestor(store=store, workers=1).ingest(discover([GYOSEI_XML], collection="laws")[0])
    before = store.chunks.count_rows()
    items, _ = discover([GYOSEI_HTML], collection="laws")
    report = Ingestor(store=store, workers=1, limits=IngestLimits(max_seconds=0)).ingest(items)
    [(_, message)] = report.errors
    assert "上限 0 秒" in message and "took longer than the 0 s limit per file; skipped" in message
    assert store.documents()[GYOSEI_ID].effective_date == "2024-04-01"  # the older revision stays
    assert store.chunks.count_rows() == before


def test_a_file_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path / "data")
    big = tmp_path / "big.txt"
    big.write_bytes(one_line_text(5000))
    report = Ingestor(store=store, workers=1, limits=IngestLimits(max_file_bytes=4096)).ingest(
        discover([big], collection="city-a")[0]
    )
    [(source, message)] = report.errors
    assert source == str(big) and message.startswith(f"{big}: ファイルの大きさが上限（4,096 bytes）")
    assert message.endswith("/ the file exceeds the 4,096 bytes limit; skipped")


def test_budget_deadline_follows_its_clock() -> None:
    now = [100.0]
    budget = Budget("a.pdf", IngestLimits(max_seconds=30), clock=lambda: now[0])
    budget.check()
    now[0] = 129.9
    budget.check()
    now[0] = 130.1
    with pytest.raises(LimitExceeded, match=r"a\.pdf: .*30 秒"):
        budget.check()


def _encrypted_pdf(lines: int) -> bytes:
    """A PDF encrypted with an empty user password (opens without one, as many notices do)."""
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pageCompression=1, encrypt=StandardEncryption("", ownerPassword="owner"))
    for n in range(lines):
        c.drawString(40, 800 - 12 * (n % 60), "Notice text repeated to compress well. " * 2)
        if n % 60 == 59:
            c.showPage()
    c.showPage()
    c.save()
    return buffer.getvalue()


def test_an_encrypted_pdf_is_measured_after_deciphering() -> None:
    data = _encrypted_pdf(120)
    assert b"/Encrypt" in data
    assert "Notice text" in parse_bytes(data, "enc.pdf").sections[0].text  # opens with default limits
    tight = IngestLimits(max_expansion=1, decompressed_floor=1024)
    with pytest.raises(LimitExceeded, match="展開後のデータ量"):
        parse_bytes(data, "enc.pdf", budget=Budget("enc.pdf", tight))
