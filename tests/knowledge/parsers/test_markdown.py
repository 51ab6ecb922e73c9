from __future__ import annotations

import re
from pathlib import Path

import pytest

from knowledge.documents import DocKind, ParsedDocument, ParseError, Part
from knowledge.numerals import article_title_to_num
from knowledge.parsers import markdown

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus"
LAWS = SHARED / "markdown_japan-law"
FILES = sorted(LAWS.glob("*.md"))


def _article_anchors(raw: str) -> list[tuple[int, str]]:
    """Anchors that open a block: a blank line, <a id="第…条">, then exactly **第…条**."""
    pattern = r'\n\n<a id="(第[^"]+条[^"]*)"></a>\n\*\*\1\*\*'
    return [(m.start(), m.group(1)) for m in re.finditer(pattern, raw)]


def _parse(law_id: str) -> ParsedDocument:
    path = LAWS / f"{law_id}.md"
    return markdown.parse(path.read_bytes(), str(path))


def test_article_counts_match_anchor_count_in_main_part() -> None:
    assert len(FILES) == 7
    for path in FILES:
        raw = path.read_text(encoding="utf-8")
        anchors = _article_anchors(raw)
        suppl_start = next(pos for pos, title in anchors[1:] if title == "第一条")
        expected_main = sum(1 for pos, _ in anchors if pos < suppl_start)
        doc = markdown.parse(path.read_bytes(), str(path))
        main = [s for s in doc.sections if s.part is Part.MAIN]
        assert len(main) == expected_main, path.name
        assert len(doc.sections) == len(anchors), path.name
        assert doc.doc_id == path.stem
        assert doc.kind is DocKind.LAW
        keys = [s.key for s in doc.sections]
        assert len(keys) == len(set(keys)), path.name
        assert all(re.fullmatch(r"\d+(_\d+)*", k) for k in keys[: len(main)])
        assert all(re.fullmatch(r"suppl\d+_\d+(_\d+)*", k) for k in keys[len(main) :])


def test_my_number_act_article_1() -> None:
    doc = _parse("425AC0000000027")
    assert doc.title == "行政手続における特定の個人を識別するための番号の利用等に関する法律"
    assert doc.law_num == "平成二十五年法律第二十七号"
    first = doc.sections[0]
    assert (first.key, first.label, first.part) == ("1", "第一条", Part.MAIN)
    assert first.text.startswith("この法律は、行政機関、地方公共団体その他の行政事務を処理する者が、")
    assert "\n" not in first.text
    second = next(s for s in doc.sections if s.key == "2")
    lines = second.text.split("\n")
    assert (
        lines[1] == "この法律において「独立行政法人等」とは、個人情報保護法第二条第九項に規定する"
        "独立行政法人等をいう。"
    )
    assert "](" not in second.text  # Markdown links reduced to their text


def test_anchor_inside_a_sentence_stays_text() -> None:
    doc = _parse("426AC0000000068")
    by_key = {s.key: s for s in doc.sections}
    assert by_key["9"].text.startswith("第四条又は他の法律若しくは条例の規定により審査請求がされた行政庁")
    assert "4" in by_key and by_key["4"].text.startswith(
        "審査請求は、法律（条例に基づく処分については、条例）に特別の定め"
    )
    # a sentence the converter turned into "## 第二章（…）の規定は" is text, not a chapter
    assert by_key["66"].text.startswith("第二章（第九条第三項、第十八条（第三項を除く。）")
    assert by_key["66"].path == ()


def test_branch_numbers_and_deleted_ranges() -> None:
    doc = _parse("325AC1000000100")
    by_key = {s.key: s for s in doc.sections}
    assert by_key["101_2_2"].label == "第百一条の二の二"
    assert article_title_to_num(by_key["101_2_2"].label) == "101_2_2"
    assert by_key["153"].label == "第百五十三条から第百六十条まで"
    assert by_key["153"].text == "削除"


def test_supplementary_provisions() -> None:
    doc = _parse("421AC0000000066")
    suppl = [s for s in doc.sections if s.part is Part.SUPPL]
    assert suppl[0].key == "suppl0_1"
    assert suppl[0].label == "附則第一条"
    main = [s for s in doc.sections if s.part is Part.MAIN]
    assert main[-1].key == "34"
    assert main[-1].text.startswith("地方公共団体は、この法律の趣旨にのっとり")
    assert "参照している法令" not in doc.sections[-1].text


def test_generic_markdown() -> None:
    text = (
        "# 窓口業務マニュアル\n\n前書きの文章。\n\n## 第1章 受付\n\n受付は8時30分から。\n\n"
        "### 1 本人確認\n\n[個人番号カード](https://example.jp/card)で確認する。\n\n```\n# コメント\n```\n\n"
        "## 第2章 交付\n\n交付は即日。\n"
    )
    doc = markdown.parse(text.encode("utf-8"), "docs/madoguchi.md")
    assert doc.kind is DocKind.DOCUMENT
    assert doc.title == "窓口業務マニュアル"
    assert doc.doc_id == "madoguchi"
    assert [(s.key, s.label, s.path) for s in doc.sections] == [
        ("s0", "前文", ()),
        ("s1", "第1章 受付", ()),
        ("s2", "1 本人確認", ("第1章 受付",)),
        ("s3", "第2章 交付", ()),
    ]
    assert doc.sections[2].text == "個人番号カードで確認する。\n\n```\n# コメント\n```"


def test_plain_text_with_numbered_headings() -> None:
    text = (
        "住民票の写しの交付について\n\n1 趣旨\n\nこの要領は交付事務を定める。\n\n"
        "2 手数料\n\n1通300円とする。\n減免はしない。\n"
    )
    doc = markdown.parse(text.encode("cp932"), "youryou.txt")
    assert doc.title == "住民票の写しの交付について"
    assert [(s.key, s.label, s.text) for s in doc.sections] == [
        ("s1", "1 趣旨", "この要領は交付事務を定める。"),
        ("s2", "2 手数料", "1通300円とする。\n減免はしない。"),
    ]


def test_plain_text_without_headings_is_chunked() -> None:
    paragraph = "あ" * 900
    doc = markdown.parse(f"{paragraph}\n\n{paragraph}\n\n{paragraph}\n".encode(), "memo.txt")
    assert doc.title == "memo"
    assert [len(s.text) for s in doc.sections] == [900, 900, 900]


def test_sniff() -> None:
    assert markdown.sniff(b"", "a.md")
    assert markdown.sniff(b"", "a.TXT")
    assert not markdown.sniff(b"# x", "a.html")


@pytest.mark.parametrize("data", [b"", b"\n \n"])
def test_empty_input_raises(data: bytes) -> None:
    with pytest.raises(ParseError, match="empty"):
        markdown.parse(data, "x.md")


def test_law_file_without_articles_is_not_a_law() -> None:
    doc = markdown.parse("# 題名\n\n本文のみ。\n".encode(), "425AC0000000027.md")
    assert doc.kind is DocKind.DOCUMENT
    with pytest.raises(ParseError, match="no text content"):
        markdown.parse("# 題名だけ\n".encode(), "title_only.md")
