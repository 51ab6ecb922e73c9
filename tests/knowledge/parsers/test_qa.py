from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.documents import DocKind, ParsedDocument, ParseError
from knowledge.parsers import qa

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "qa"


def _parse(name: str) -> ParsedDocument:
    path = FIXTURES / name
    return qa.parse(path.read_bytes(), str(path))


def test_csv_with_bom_and_japanese_headers() -> None:
    assert (FIXTURES / "juminhyo_qa.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    doc = _parse("juminhyo_qa.csv")
    assert doc.kind is DocKind.QA
    assert doc.title == "juminhyo_qa"
    assert doc.doc_id == "juminhyo_qa"
    assert [(s.key, s.label, s.path) for s in doc.sections] == [
        ("1", "1", ("転入",)),
        ("2", "2", ("転出",)),
        ("3", "3", ("証明",)),
        ("4", "4", ("証明",)),
    ]
    first = doc.sections[0]
    assert first.caption == "市外から引っ越してきました。転入の届出はいつまでにすればよいですか。"
    assert first.text == (
        "問　市外から引っ越してきました。転入の届出はいつまでにすればよいですか。\n"
        "答　転入した日から14日以内に、新しい住所地の市町村長に届け出てください。\n"
        "根拠　住民基本台帳法第22条"
    )
    assert (
        doc.sections[1].text.split("\n")[2]
        == "マイナンバーカードをお持ちの方は、オンラインでの届出もできます。"
    )
    assert doc.sections[3].text == "問　印鑑登録証明書の交付手数料はいくらですか。\n答　1通300円です。"


def test_cp932_csv_with_english_headers_gets_generated_keys() -> None:
    text = (
        "question,answer,category\r\n"
        "転出証明書を紛失しました。,転出元の市町村で再交付を受けてください。,転入\r\n"
        "\r\n"
        "国民健康保険の加入手続はどこでできますか。,保険年金課の窓口で手続できます。,国保\r\n"
    )
    data = text.encode("cp932")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    doc = qa.parse(data, "kokuho_faq.csv")
    assert [(s.key, s.label, s.caption) for s in doc.sections] == [
        ("q1", "問1", "転出証明書を紛失しました。"),
        ("q2", "問2", "国民健康保険の加入手続はどこでできますか。"),
    ]
    assert (
        doc.sections[1].text
        == "問　国民健康保険の加入手続はどこでできますか。\n答　保険年金課の窓口で手続できます。"
    )


def test_json_object_with_items_and_title() -> None:
    doc = _parse("faq.json")
    assert doc.title == "マイナンバーカードよくある質問"
    assert [s.key for s in doc.sections] == ["MN-01", "MN-02"]
    assert doc.sections[0].label == "MN-01"
    assert doc.sections[0].path == ("交付",)
    assert doc.sections[0].text.split("\n")[2:] == [
        "根拠　行政手続における特定の個人を識別するための番号の利用等に関する法律第17条",
        "参照　https://www.example.lg.jp/faq/mynumber/01.html",
    ]


def test_json_list_with_japanese_keys() -> None:
    doc = _parse("shokai_kaitou.json")
    assert doc.title == "shokai_kaitou"
    assert [(s.key, s.label) for s in doc.sections] == [("q1", "問1"), ("q2", "問2")]
    assert doc.sections[0].text.endswith("\n根拠　住民基本台帳法第12条")
    assert (
        doc.sections[1].text
        == "問　代理人が請求する場合に必要なものは何ですか。\n答　委任状と代理人の本人確認書類が必要です。"
    )


def test_sniff() -> None:
    assert qa.sniff(b"", "a.csv")
    assert qa.sniff((FIXTURES / "faq.json").read_bytes(), "faq.json")
    assert qa.sniff((FIXTURES / "shokai_kaitou.json").read_bytes(), "x.json")
    assert not qa.sniff(json.dumps({"law_info": {"law_id": "x"}}).encode(), "law.json")
    assert not qa.sniff(b"not json", "x.json")
    assert not qa.sniff(b"", "a.md")


def test_missing_answer_column_names_found_columns() -> None:
    data = "質問,根拠\n転入届の期限は？,住民基本台帳法第22条\n".encode()
    with pytest.raises(ParseError, match=r"no answer column .*columns found: 質問, 根拠"):
        qa.parse(data, "bad.csv")


def test_empty_answer_names_spreadsheet_row() -> None:
    # header is row 1; the quoted cell spans two lines but is still row 2
    data = '問,答\n"一行目\n二行目",回答あり\n空欄の回答は？,\n'.encode()
    with pytest.raises(ParseError, match=r"row 3 has an empty answer"):
        qa.parse(data, "bad.csv")


def test_json_errors() -> None:
    with pytest.raises(ParseError, match="item 2 is str"):
        qa.parse(json.dumps([{"q": "a", "a": "b"}, "x"]).encode(), "x.json")
    with pytest.raises(ParseError, match="item 1 has no question column"):
        qa.parse(json.dumps([{"title": "a"}]).encode(), "x.json")
    with pytest.raises(ParseError, match="invalid JSON at line 1"):
        qa.parse(b"[{", "x.json")
    with pytest.raises(ParseError, match="item 1 has an empty question"):
        qa.parse(json.dumps([{"質問": " ", "回答": "b"}]).encode(), "x.json")


@pytest.mark.parametrize(("data", "message"), [(b"", "empty input"), (b"question,answer\n", "no Q&A pairs")])
def test_empty_raises(data: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        qa.parse(data, "x.csv")


def test_duplicate_ids_raise() -> None:
    data = b"id,question,answer\nA,q1,a1\nA,q2,a2\n"
    with pytest.raises(ParseError, match="row 3 repeats id 'A'"):
        qa.parse(data, "dup.csv")
