from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

# reportlab ships no type information, and its stubs (types-reportlab) are not a dev dependency.
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from knowledge.documents import DocKind, ParseError
from knowledge.parsers import pdf

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus"
NTA = SHARED / "circulars" / "nta"
FONT = "HeiseiMin-W3"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def _real_paragraph(item: str) -> str:
    """Text of one numbered item of a real 通達 page, tags stripped (e.g. 5－1－3)."""
    raw = (NTA / "www.nta.go.jp_law_tsutatsu_kihon_shohi_05_01.htm").read_text(encoding="utf-8")
    match = re.search(rf"<strong>{item}</strong>　(.*?)</p>", raw)
    assert match, item
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def _make_pdf(pages: list[list[str]], *, title: str = "", encrypt: str | None = None) -> bytes:
    """Draw each logical line, wrapping long ones at 38 characters like a printed notice."""
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=A4, encrypt=encrypt)
    if title:
        c.setTitle(title)
    for page in pages:
        c.setFont(FONT, 10.5)
        y = 800.0
        for line in page:
            chunks = [line[i : i + 38] for i in range(0, len(line), 38)] or [""]
            for chunk in chunks:
                c.drawString(60, y, chunk)
                y -= 16
        c.showPage()
    c.save()
    return buffer.getvalue()


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_notice_with_headings_round_trips_real_text() -> None:
    assets = _real_paragraph("5－1－3")
    gift = _real_paragraph("5－1－4")
    assert len(assets) > 100 and len(gift) > 100  # long enough to wrap over several lines
    lines = [
        "総税消第12号",
        "令和7年4月1日",
        "各都道府県税務主管課長　殿",
        "消費税法基本通達の取扱いについて（通知）",
        "標記について、下記のとおり通知します。",
        "記",
        "第1　資産の範囲",
        assets,
        "第2　代物弁済",
        "1　意義",
        gift,
        "（1）　留意事項",
        "現物給与に注意すること。",
    ]
    data = _make_pdf([lines[:8], lines[8:]])
    doc = pdf.parse(data, "/tmp/tsuchi_0401.pdf")
    assert doc.kind is DocKind.CIRCULAR
    assert doc.doc_id == "tsuchi_0401"
    assert doc.title == "消費税法基本通達の取扱いについて（通知）"
    assert doc.effective_date == "2025-04-01"
    assert [(s.key, s.label, s.caption, s.path) for s in doc.sections] == [
        ("s0", "前文", "", ()),
        ("s1", "第1", "資産の範囲", ()),
        ("s2", "第2", "代物弁済", ()),
        ("s3", "1", "意義", ("第2　代物弁済",)),
        ("s4", "（1）", "留意事項", ("第2　代物弁済", "1　意義")),
    ]
    assert doc.sections[1].text == assets  # wrapped lines joined back exactly
    assert _squash(doc.sections[3].text) == _squash(gift)
    assert doc.sections[4].text == "現物給与に注意すること。"
    assert doc.sections[0].text.split("\n") == [
        "総税消第12号",
        "令和7年4月1日",
        "各都道府県税務主管課長　殿",
        "標記について、下記のとおり通知します。",
    ]


def test_unstructured_pdf_gets_one_section_per_page_and_metadata_title() -> None:
    first = _real_paragraph("5－1－1")
    second = _real_paragraph("5－1－2")
    data = _make_pdf([[first], [second]], title="消費税の資料")
    doc = pdf.parse(data, "https://www.example.lg.jp/files/shiryo.pdf")
    assert doc.title == "消費税の資料"
    assert doc.url == "https://www.example.lg.jp/files/shiryo.pdf"
    assert [(s.key, s.label) for s in doc.sections] == [("p1", "1ページ"), ("p2", "2ページ")]
    assert _squash(doc.sections[0].text) == _squash(first)
    assert _squash(doc.sections[1].text) == _squash(second)


def test_sniff() -> None:
    assert pdf.sniff(b"%PDF-1.7\n", "download")
    assert pdf.sniff(b"", "a.PDF")
    assert not pdf.sniff(b"<html>", "a.html")


def test_corrupt_pdf_raises() -> None:
    data = _make_pdf([["本文"]])
    with pytest.raises(ParseError, match="corrupt PDF"):
        pdf.parse(data[: len(data) // 3], "broken.pdf")
    with pytest.raises(ParseError, match="corrupt PDF"):
        pdf.parse(b"%PDF-1.4\nthis is not a pdf body\n", "garbage.pdf")


def test_not_a_pdf_and_empty_raise() -> None:
    with pytest.raises(ParseError, match="not a PDF"):
        pdf.parse(b"hello", "x.pdf")
    with pytest.raises(ParseError, match="empty"):
        pdf.parse(b"", "x.pdf")


def test_encrypted_pdf_raises() -> None:
    data = _make_pdf([["秘密の通知"]], encrypt="secret")
    with pytest.raises(ParseError, match="encrypted PDF"):
        pdf.parse(data, "locked.pdf")


def test_image_only_pdf_raises() -> None:
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=A4)
    c.rect(50, 50, 400, 600, fill=1)
    c.showPage()
    c.save()
    with pytest.raises(ParseError, match="no extractable text in 1 page"):
        pdf.parse(buffer.getvalue(), "scan.pdf")
