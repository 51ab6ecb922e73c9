from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from knowledge.documents import ParseError
from knowledge.parsers.charset import charset_from_header, charset_from_meta, decode_html, decode_text

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus"
NTA = SHARED / "circulars" / "nta"

SENTENCE = "法第2条第1項第8号に規定する「事業として」とは、対価を得て行われる資産の譲渡をいう。"


def _page(body: str, meta: str = "") -> str:
    return f"<html><head>{meta}<title>通達</title></head><body><p>{body}</p></body></html>"


def test_all_nta_pages_are_utf8_despite_shift_jis_meta() -> None:
    files = sorted(NTA.glob("*.htm"))
    assert len(files) == 37
    for path in files:
        data = path.read_bytes()
        assert charset_from_meta(data) == "cp932", path.name
        text = decode_html(data)
        assert text == data.decode("utf-8")
        assert "国税庁" in text


def test_real_page_text_survives() -> None:
    text = decode_html((NTA / "www.nta.go.jp_law_tsutatsu_kihon_shohi_05_01.htm").read_bytes())
    assert "<h1>第1節　通則</h1>" in text


def test_shift_jis_labelled_shift_jis() -> None:
    # ① and 髙 exist only in cp932, the Microsoft superset that pages labelled Shift_JIS really use.
    body = SENTENCE + "①髙"
    data = _page(body, '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">').encode(
        "cp932"
    )
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert body in decode_html(data)


def test_mislabelled_utf8() -> None:
    data = _page(SENTENCE, '<meta charset="EUC-JP">').encode("utf-8")
    assert SENTENCE in decode_html(data)


def test_unlabelled_euc_jp_is_detected() -> None:
    body = "\n".join([SENTENCE] * 5)
    data = _page(body).encode("euc_jp")
    assert charset_from_meta(data) is None
    assert body in decode_html(data)
    assert body in decode_text(body.encode("euc_jp"))


def test_http_header_wins_over_meta() -> None:
    data = _page(SENTENCE, '<meta charset="iso-8859-1">').encode("euc_jp")
    assert SENTENCE in decode_html(data, "text/html; charset=EUC-JP")


def test_iso2022_jp_is_not_mistaken_for_ascii_utf8() -> None:
    data = SENTENCE.encode("iso2022_jp")
    assert data.decode("utf-8") != SENTENCE  # 7-bit bytes decode as UTF-8, but to escape codes
    assert decode_text(data) == SENTENCE


def test_bom() -> None:
    assert decode_text(codecs.BOM_UTF8 + SENTENCE.encode("utf-8")) == SENTENCE
    assert decode_text(SENTENCE.encode("utf-16")) == SENTENCE


def test_header_parsing() -> None:
    assert charset_from_header("text/html; charset=Shift_JIS") == "cp932"
    assert charset_from_header("x-sjis") == "cp932"
    assert charset_from_header("euc-jp") == "euc_jp"
    assert charset_from_header("no-such-charset") is None


def test_undecodable_bytes_raise() -> None:
    garbage = bytes(range(0x80, 0x100)) * 8
    with pytest.raises(ParseError, match="cannot decode"):
        decode_text(garbage)


def test_broken_bom_raises() -> None:
    with pytest.raises(ParseError, match="byte-order mark"):
        decode_text(codecs.BOM_UTF8 + b"\xff\xfe\xfa")
