from __future__ import annotations

import re
from pathlib import Path

import pytest

from knowledge.documents import DocKind, ParsedDocument, ParseError, Part
from knowledge.parsers import notice_html

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus"
NTA = SHARED / "circulars" / "nta"
PAGES = sorted(NTA.glob("*.htm"))


def _parse(name: str) -> ParsedDocument:
    path = NTA / name
    return notice_html.parse(path.read_bytes(), str(path))


def _numbered_items(raw: str) -> int:
    """Independent count: paragraphs opening with a bold 5－1－1 style number, outside comments."""
    raw = re.sub(r"<!--.*?-->", "", raw, flags=re.S)
    pattern = (
        r'<p[^>]*>\s*<(?:strong|span class="bold")>\s*[0-9]+(?:の[0-9]+)*(?:・[^<]*)?'
        r"(?:</strong><strong>)?[－\-～]"
    )
    return len(re.findall(pattern, raw))


def _linked_paths() -> set[str]:
    """Every site path some corpus page links to (the site's own evidence of its URL layout)."""
    paths: set[str] = set()
    for page in PAGES:
        for href in re.findall(r'href="([^"#]*)', page.read_text(encoding="utf-8")):
            href = href.removeprefix("https://www.nta.go.jp")
            if href.startswith("/"):
                paths.add(href)
    return paths


def test_every_corpus_page_parses_with_items_counted_independently() -> None:
    assert len(PAGES) == 37
    with_items = 0
    for page in PAGES:
        doc = notice_html.parse(page.read_bytes(), str(page))
        assert doc.kind is DocKind.CIRCULAR
        assert doc.doc_id == "nta:" + page.stem.removeprefix("www.nta.go.jp_")
        keys = [s.key for s in doc.sections]
        assert len(keys) == len(set(keys)), page.name
        assert all(s.text.strip() for s in doc.sections), page.name
        expected = _numbered_items(page.read_text(encoding="utf-8"))
        numbered = [k for k in keys if not re.fullmatch(r"s\d+", k)]
        assert len(numbered) == expected, page.name
        with_items += expected > 0
    assert with_items == 22


def test_urls_are_reconstructed_only_where_the_site_confirms_them() -> None:
    linked = _linked_paths()
    confirmed = 0
    for page in PAGES:
        doc = notice_html.parse(page.read_bytes(), str(page))
        flat = page.stem.removeprefix("www.nta.go.jp") + ".htm"
        known = [p for p in linked if p.replace("/", "_") == flat]
        if known:
            assert doc.url == "https://www.nta.go.jp" + known[0], page.name
            confirmed += 1
        else:
            assert doc.url == "", page.name
    assert confirmed == 29


def test_consumption_tax_chapter_5_section_1() -> None:
    doc = _parse("www.nta.go.jp_law_tsutatsu_kihon_shohi_05_01.htm")
    assert doc.title == "消費税法基本通達"  # the page's own title, 第1節　通則, is in the path
    assert doc.url == "https://www.nta.go.jp/law/tsutatsu/kihon/shohi/05/01.htm"
    assert doc.effective_date == ""
    assert [s.key for s in doc.sections] == [f"5-1-{n}" for n in range(1, 12)]
    first = doc.sections[0]
    assert first.label == "5－1－1"
    assert first.caption == "（事業としての意義）"
    assert first.path == ("第5章　課税範囲", "第1節　通則")
    assert first.text.split("\n") == [
        "法第2条第1項第8号《資産の譲渡等の意義》に規定する「事業として」とは、対価を得て行われる資産の譲渡及び"
        "貸付け並びに役務の提供が反復、継続、独立して行われることをいう。（平23課消1-35により改正）",
        "(注)",
        "1　個人事業者が生活の用に供している資産を譲渡する場合の当該譲渡は、「事業として」には該当しない。",
        "2　法人が行う資産の譲渡及び貸付け並びに役務の提供は、その全てが、「事業として」に該当する。",
    ]
    fifth = doc.sections[4]
    assert fifth.caption == "（負担付き贈与の意義）"
    assert (
        fifth.text.split("\n")[1] == "　なお、事業者が他の事業者に対して行った広告宣伝用の資産の贈与は、"
        "同号に規定する負担付き贈与には該当しない。"
    )


def test_pages_of_a_many_page_circular_are_titled_by_the_circular() -> None:
    titles = {page.stem.removeprefix("www.nta.go.jp_law_"): _parse(page.name).title for page in PAGES}
    assert titles["tsutatsu_kihon_hojin_01_01_01"] == "法人税基本通達"
    assert titles["tsutatsu_kihon_shotoku_30_01"] == "所得税基本通達"
    assert titles["tsutatsu_kihon_sisan_sozoku2_01_00"] == "相続税法基本通達"
    assert titles["tsutatsu_kihon_shotoku_01"] == "通達目次　/　所得税基本通達"  # names it already
    # Amendment lists and the 事務運営指針 are notices of their own.
    assert titles["tsutatsu_kihon_hojin_kaisei_kaisei_a"] == "法人税法　一部改正通達"
    assert titles["tsutatsu_kihon_shohi_kaisei_0026003-067_index"].startswith("消費税法基本通達の一部改正")
    assert titles["jimu-unei_shotoku_gensen_000703_01"].startswith("源泉所得税の不納付加算税の取扱い")
    hojin = _parse("www.nta.go.jp_law_tsutatsu_kihon_hojin_01_01_01.htm")
    assert hojin.sections[3].key == "1-1-4"
    assert hojin.sections[3].path == ("第1章　総則", "第1節　納税地及び納税義務")
    assert notice_html.series_title("https://www.mhlw.go.jp/content/12300000/001234567.html") == ""


def test_split_bold_labels_and_span_bold() -> None:
    doc = _parse("www.nta.go.jp_law_tsutatsu_kihon_shotoku_30_01.htm")
    assert doc.sections[0].key == "183~193共-1"
    assert doc.sections[0].label == "183～193共－1"
    assert doc.sections[0].text.startswith("支給総額が確定している給与等を分割して支払う場合の")
    hojin = _parse("www.nta.go.jp_law_tsutatsu_kihon_hojin_01_01_01.htm")
    tenth = next(s for s in hojin.sections if s.key == "1-1-10")  # printed with <span class="bold">
    assert tenth.label == "1－1－10"
    assert tenth.text.startswith("令第3条第2項第3号《非営利型法人の範囲》")


def test_multiple_h1_pages_put_each_article_group_in_the_path() -> None:
    doc = _parse("www.nta.go.jp_law_tsutatsu_kihon_sisan_sozoku2_04_01.htm")
    assert doc.title == "相続税法基本通達"
    by_key = {s.key: s for s in doc.sections}
    assert "28-1" not in by_key  # only inside an HTML comment on the page
    assert by_key["27-1"].path == ("第4章　申告及び納付", "第27条《相続税の申告書》関係")
    assert by_key["34-5"].path == ("第4章　申告及び納付", "第34条《連帯納付の義務》関係")
    assert by_key["34-5"].caption == "（法第34条第5項の通知）"


def test_centred_bold_headings_become_path() -> None:
    doc = _parse("www.nta.go.jp_law_tsutatsu_kihon_shotoku_01_01.htm")
    assert doc.sections[0].key == "2-1"
    assert doc.sections[0].path == (
        "第1編　総則",
        "第1章　通則",
        "法第2条《定義》関係",
        "〔居住者、非永住者及び非居住者（第3、4、5号関係）〕",
    )
    sozoku = _parse("www.nta.go.jp_law_tsutatsu_kihon_sisan_sozoku2_01_01.htm")
    assert sozoku.sections[0].path[:2] == ("第1章総則", "第1節通則")  # one <strong> split by <br>


def test_administrative_guideline_split_at_headings() -> None:
    doc = _parse("www.nta.go.jp_law_jimu-unei_hojin_090401_01.htm")
    assert doc.title.startswith("法人課税部門における書面添付制度の運用に当たっての基本的な考え方")
    assert doc.effective_date == "2024-03-26"  # latest 改正 date in the right-aligned header
    assert doc.sections[0].key == "s0"
    assert doc.sections[0].label == "前文"
    assert "各国税局長" in doc.sections[0].text
    labels = [s.label for s in doc.sections[1:]]
    assert labels[0] == "1　制度の適正・円滑な運用及び普及・定着の推進"
    assert len(labels) == 11
    hearing = next(s for s in doc.sections if s.label == "1　調査通知前の意見聴取の実施")
    assert hearing.path == ("第2章 書面添付制度に係る事務手続及び留意事項", "第2節　意見聴取の実施")
    assert "1　相手方、応接者" in doc.sections[8].text  # bullet <img alt="1"> keeps its number
    assert "別紙1(PDF/234KB)" in doc.sections[-1].text
    assert "PDFファイルが開けない" not in doc.sections[-1].text  # #cntPDFarea is boilerplate


def test_caption_paragraphs_split_guidelines_without_items() -> None:
    doc = _parse("www.nta.go.jp_law_jimu-unei_shotoku_gensen_000703_01.htm")
    assert doc.effective_date == "2017-11-28"
    captions = [s.caption for s in doc.sections if s.caption]
    assert (
        captions[0] == "（源泉所得税及び復興特別所得税を法定納期限までに納付しなかったことについて"
        "正当な理由があると認められる場合）"
    )
    assert len(captions) == 5
    assert (
        doc.sections[1].label == "源泉所得税及び復興特別所得税の不納付加算税の取扱いについて（事務運営指針）"
    )
    assert doc.sections[2].path[-1] == "第1 不納付加算税の取扱い"
    assert doc.sections[5].path[-1] == "第2 不納付加算税の計算"
    assert doc.sections[5].text.startswith("4　不納付加算税の計算の基礎となる税額は")


def test_index_page_is_chunked() -> None:
    doc = _parse("www.nta.go.jp_law_tsutatsu_kihon_hojin_kaisei_kaisei_a.htm")
    assert doc.title == "法人税法　一部改正通達"
    assert [s.key for s in doc.sections] == ["s1", "s2"]
    assert all(len(s.text) <= notice_html.CHUNK_CHARS + 200 for s in doc.sections)
    assert doc.sections[0].text.startswith(
        "法人税基本通達の一部改正について（法令解釈通達）（令和8年1月30日）"
    )


def test_tables_of_contents_and_lists_of_circulars_are_contents_not_provisions() -> None:
    contents = {
        page.name
        for page in PAGES
        if any(s.part is Part.CONTENTS for s in notice_html.parse(page.read_bytes(), str(page)).sections)
    }
    expected = {f"www.nta.go.jp_law_{name}.htm" for name in (
        "tsutatsu_kihon_shotoku_01", "tsutatsu_kihon_sisan_sozoku2_01", "tsutatsu_kihon_hojin_01",
        "tsutatsu_kihon_shohi_01", "jimu-unei_jimu", "jimu-unei_shotoku_shinkoku_170331_index",
        "tsutatsu_kihon_hojin_kaisei_kaisei_a", "tsutatsu_kihon_shohi_kaisei_kaisei_a",
        "tsutatsu_kihon_shotoku_kaisei_kaisei_a", "tsutatsu_kihon_sisan_sozoku_kaisei_kaisei_a",
    )}  # fmt: skip
    assert contents == expected
    toc = _parse("www.nta.go.jp_law_tsutatsu_kihon_shotoku_01.htm")
    assert {s.part for s in toc.sections} == {Part.CONTENTS}
    assert any("《青色申告の承認の取消し》" in s.text for s in toc.sections)
    items = _parse("www.nta.go.jp_law_tsutatsu_kihon_shotoku_30_01.htm")
    assert {s.part for s in items.sections} == {Part.MAIN}


LINKS = """<html><body><main>
<h2>第1　趣旨</h2><p>詳しくは<a href="/a.html">別紙</a>のとおり、申請は市町村の窓口で受け付けること。</p>
<h2>関連通知</h2><ul><li><a href="/b.html">介護保険法施行規則の一部改正について</a>（令和7年3月1日）</li>
<li><a href="/c.html">要介護認定の事務の取扱いについて</a>（令和6年4月1日）</li></ul>
<h2>第2　その他</h2><p>目次へ戻る</p></main></body></html>"""


def test_a_section_of_links_lists_pages_and_a_link_in_a_sentence_does_not() -> None:
    doc = notice_html.parse(LINKS.encode(), "https://www.mhlw.go.jp/content/1.html")
    assert [(s.label, s.part) for s in doc.sections] == [
        ("第1　趣旨", Part.MAIN),
        ("関連通知", Part.CONTENTS),
        ("第2　その他", Part.MAIN),  # 「目次へ戻る」 as text, not a link
    ]


GENERIC = """<!DOCTYPE html><html><head><meta charset="Shift_JIS">
<title>介護保険最新情報｜厚生労働省</title></head><body>
<header><p>厚生労働省 ホーム</p></header><nav><a href="/">トップ</a></nav>
<main><p align="right">令和7年4月1日</p>
<h2>第1　趣旨</h2><p>この通知は、介護保険法の一部改正に伴う事務の取扱いを示すものである。</p>
<h2>第2　留意事項</h2><h3>1　申請の受付</h3><p>申請は、市町村の窓口で受け付けること。</p>
<h3>2　審査</h3><p>審査は、速やかに行うこと。</p><p>審査結果は、文書で通知すること。</p></main>
<footer><p>Copyright 厚生労働省</p></footer><script>var x = "ignored";</script></body></html>"""


def test_generic_ministry_page() -> None:
    data = GENERIC.encode("cp932")
    doc = notice_html.parse(data, "https://www.mhlw.go.jp/content/12300000/001234567.html")
    assert doc.title == "介護保険最新情報"
    assert doc.doc_id == "mhlw:content_12300000_001234567"
    assert doc.url == "https://www.mhlw.go.jp/content/12300000/001234567.html"
    assert doc.effective_date == "2025-04-01"
    assert [(s.key, s.label, s.path) for s in doc.sections] == [
        ("s0", "前文", ()),
        ("s1", "第1　趣旨", ()),
        ("s2", "1　申請の受付", ("第2　留意事項",)),
        ("s3", "2　審査", ("第2　留意事項",)),
    ]
    assert doc.sections[3].text == "審査は、速やかに行うこと。\n審査結果は、文書で通知すること。"
    text = "\n".join(s.text for s in doc.sections)
    assert "トップ" not in text and "Copyright" not in text and "ignored" not in text


def test_canonical_link_and_local_file_stem() -> None:
    page = GENERIC.replace(
        "</title>", '</title><link rel="canonical" href="https://www.soumu.go.jp/a/b.html">'
    )
    doc = notice_html.parse(page.encode("cp932"), "/tmp/downloads/tsuchi.html")
    assert doc.url == "https://www.soumu.go.jp/a/b.html"
    assert doc.doc_id == "soumu:a_b"
    plain = notice_html.parse(GENERIC.encode("cp932"), "/tmp/downloads/tsuchi.html")
    assert plain.url == ""
    assert plain.doc_id == "tsuchi"


def test_sniff() -> None:
    assert notice_html.sniff(b"", "a/b/page.htm")
    assert notice_html.sniff(b"<!DOCTYPE html><html>", "download")
    assert not notice_html.sniff(b"# title\n", "notes.md")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty input"),
        (b"  \n", "empty input"),
        (b"<html><body><nav><a href='/'>home</a></nav><script>x()</script></body></html>", "no text content"),
    ],
)
def test_garbage_raises(data: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        notice_html.parse(data, "bad.html")
