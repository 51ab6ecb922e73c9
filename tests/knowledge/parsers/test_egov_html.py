"""e-Gov API v2 law_file/html output against the real corpus (19 laws)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from knowledge.documents import DocKind, ParsedDocument, ParsedSection, ParseError, Part
from knowledge.parsers import egov_html, egov_xml
from knowledge.parsers.egov_common import article_key

JICHI = "322AC0000000067_20250601_504AC0000000068.html"  # 地方自治法 (3 MB)
JICHI_REI = "322CO0000000016_20250623_507CO0000000213.html"  # 地方自治法施行令 (3 MB)
CHIKOMU = "325AC0000000261_20250601_504AC0000000068.html"  # 地方公務員法
GYOTETSU = "405AC0000000088_20240926_506AC0000000065.html"  # 行政手続法
KENPO = "321CONSTITUTION_19470503_000000000000000.html"  # 日本国憲法

# (main articles, 附則 articles, 附則 blocks, 別表) per file. Verified independently by string
# counting on the raw HTML: 'class="active Article"' before / after the first
# 'class="active SupplProvision"', and the number of SupplProvision / AppdxTable sections.
COUNTS = {
    "129AC0000000089_20250606_507AC0000000057.html": (1167, 193, 65, 0),
    KENPO: (103, 0, 0, 0),
    JICHI: (518, 739, 569, 2),
    "322AC0000000118_20250701_507AC0000000051.html": (38, 36, 21, 0),
    "322AC0000000125_19471027_000000000000000.html": (6, 0, 1, 0),
    "322AC0000000164_20250601_504AC0000000068.html": (366, 318, 126, 0),
    "322AC0000000224_20250526_505AC0000000048.html": (171, 98, 47, 0),
    JICHI_REI: (357, 438, 613, 5),
    "323AC0000000043_19621001_337AC0000000161.html": (6, 0, 4, 0),
    "323AC0000000109_20250401_506AC0000000047.html": (52, 219, 213, 0),
    "325AC0000000144_20250601_504AC0000000068.html": (126, 159, 76, 3),
    CHIKOMU: (106, 110, 76, 0),
    "327AC0000000292_20250601_504AC0000000068.html": (55, 76, 52, 0),
    "333AC0000000192_20250601_504AC0000000068.html": (190, 298, 118, 0),
    "336AC0000000223_20250701_507AC0000000051.html": (210, 106, 66, 0),
    "337AC0000000139_20250401_505AC0000000047.html": (51, 76, 36, 1),
    GYOTETSU: (48, 22, 15, 0),
    "411AC0000000042_20220401_503AC0000000037.html": (27, 31, 15, 0),
    "415AC0000000057_20250601_504AC0000000068.html": (185, 57, 18, 2),
}


@pytest.fixture(scope="module")
def timings() -> dict[str, float]:
    return {}


@pytest.fixture(scope="module")
def docs(shared_corpus: Path, timings: dict[str, float]) -> dict[str, ParsedDocument]:
    out = {}
    for path in sorted((shared_corpus / "egov_html").glob("*.html")):
        data = path.read_bytes()
        start = time.perf_counter()
        out[path.name] = egov_html.parse(data, path.name)
        timings[path.name] = time.perf_counter() - start
    return out


def by_key(doc: ParsedDocument) -> dict[str, ParsedSection]:
    return {s.key: s for s in doc.sections}


def test_corpus_is_complete(docs: dict[str, ParsedDocument]) -> None:
    assert sorted(docs) == sorted(COUNTS)


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_counts(docs: dict[str, ParsedDocument], shared_corpus: Path, name: str) -> None:
    main, suppl_articles, suppl_blocks, appendices = COUNTS[name]
    raw = (shared_corpus / "egov_html" / name).read_text(encoding="utf-8")
    cut = raw.find('class="active SupplProvision"')
    assert raw[: cut if cut >= 0 else None].count('class="active Article"') == main
    doc = docs[name]
    articles = [s for s in doc.sections if s.part is Part.MAIN and s.key not in ("main", "preamble")]
    assert len(articles) == main
    assert sum(s.part is Part.SUPPL and "_" in s.key for s in doc.sections) == suppl_articles
    assert len({s.key.split("_")[0] for s in doc.sections if s.part is Part.SUPPL}) == suppl_blocks
    assert sum(s.part is Part.APPENDIX for s in doc.sections) == appendices
    assert len({s.key for s in doc.sections}) == len(doc.sections)
    for section in articles:
        assert re.fullmatch(r"\d+(_\d+)*(:\d+(_\d+)*)?", section.key), section.key
        assert article_key(section.label) == section.key
        assert section.text == "\n".join(section.paragraphs)


def test_big_files_parse_fast(docs: dict[str, ParsedDocument], timings: dict[str, float]) -> None:
    # About 0.3 s each on the development machine; the bound leaves room for a loaded CI box.
    assert timings[JICHI] < 2.0
    assert timings[JICHI_REI] < 2.0


def test_metadata(docs: dict[str, ParsedDocument]) -> None:
    doc = docs[JICHI]
    assert doc.doc_id == "322AC0000000067"
    assert doc.kind is DocKind.LAW
    assert doc.title == "地方自治法"
    assert doc.law_num == "昭和二十二年法律第六十七号"
    assert doc.revision_id == "322AC0000000067_20250601_504AC0000000068"
    assert doc.effective_date == "2025-06-01"
    assert docs[JICHI_REI].kind is DocKind.CABINET_ORDER
    assert docs[KENPO].kind is DocKind.LAW
    assert docs[KENPO].law_num == "昭和二十一年憲法"


def test_jichiho_238_4(docs: dict[str, ParsedDocument]) -> None:
    section = by_key(docs[JICHI])["238_4"]
    assert section.label == "第二百三十八条の四"
    assert section.caption == "（行政財産の管理及び処分）"
    assert section.path == ("第二編　普通地方公共団体", "第九章　財務", "第九節　財産", "第一款　公有財産")
    assert section.paragraphs[0] == (
        "行政財産は、次項から第四項までに定めるものを除くほか、これを貸し付け、交換し、売り払い、"
        "譲与し、出資の目的とし、若しくは信託し、又はこれに私権を設定することができない。"
    )
    assert section.paragraphs[1].startswith(
        "２　行政財産は、次に掲げる場合には、その用途又は目的を妨げない限度において、"
    )
    assert section.paragraphs[1].split("\n")[1].startswith("一　当該普通地方公共団体以外の者が")


def test_jichiho_ruby_deleted_ranges_and_appendix(docs: dict[str, ParsedDocument]) -> None:
    sections = by_key(docs[JICHI])
    ruby = [s.key for s in sections.values() if "竣功の認可" in s.text]
    assert ruby
    assert not any("しゆん" in s.text for s in sections.values())
    deleted = sections["20:73"]
    assert (deleted.label, deleted.text) == ("第二十条乃至第七十三条", "削除")
    assert sections["264:280"].text == "削除"
    appendix = sections["appdx0"]
    assert appendix.label == "別表第一　第一号法定受託事務（第二条関係）"
    assert appendix.part is Part.APPENDIX
    assert "法律　事務" in appendix.text.split("\n")
    # Items inside a cell are split by <br> in the page and kept apart by a full-width space.
    assert (
        "砂防法（明治三十年法律第二十九号）　一　この法律の規定により地方公共団体が処理することとされている"
        "事務のうち次に掲げるもの　イ　第四条第一項、" in appendix.text
    )


def test_sekourei_167_2_and_table(docs: dict[str, ParsedDocument]) -> None:
    sections = by_key(docs[JICHI_REI])
    section = sections["167_2"]
    assert section.label == "第百六十七条の二"
    assert section.caption == "（随意契約）"
    assert section.path == ("第二編　普通地方公共団体", "第五章　財務", "第六節　契約")
    assert section.text.startswith(
        "地方自治法第二百三十四条第二項の規定により随意契約によることができる場合は、"
        "次に掲げる場合とする。\n一　"
    )
    table_rows = sections["99"].text.split("\n")
    assert table_rows[1] == "第九十一条第一項及び第二項　当該普通地方公共団体の長　監査委員"
    assert table_rows[3] == "普通地方公共団体の長　監査委員"  # an empty (merged) cell is dropped


def test_chikomu_38(docs: dict[str, ParsedDocument]) -> None:
    section = by_key(docs[CHIKOMU])["38"]
    assert section.caption == "（営利企業への従事等の制限）"
    assert section.path == ("第三章　職員に適用される基準", "第六節　服務")
    assert len(section.paragraphs) == 2
    assert section.paragraphs[0].startswith("職員は、任命権者の許可を受けなければ、商業、工業又は金融業")
    assert section.paragraphs[1] == (
        "２　人事委員会は、人事委員会規則により前項の場合における任命権者の許可の基準を定めることができる。"
    )


def test_toc_skipped_typo_classes_and_suppl(docs: dict[str, ParsedDocument]) -> None:
    doc = docs[GYOTETSU]
    assert doc.sections[0].key == "1"
    assert doc.sections[0].path == ("第一章　総則",)
    sections = by_key(doc)
    # 第一節 sits in a section whose class is misspelt "active Sectiot".
    assert sections["12"].path == ("第三章　不利益処分", "第一節　通則")
    assert sections["15"].path == ("第三章　不利益処分", "第二節　聴聞")
    assert sections["suppl0"].label == "附則"
    assert sections["suppl0"].paragraphs[0] == (
        "１　この法律は、公布の日から起算して一年を超えない範囲内において政令で定める日から施行する。"
    )
    assert sections["suppl1_1"].label == "附則（平成一一年一二月八日法律第一五一号）第一条"
    assert sections["suppl1_3"].text.split("\n")[1] == "一から二十五まで　略"


def test_constitution_preamble(docs: dict[str, ParsedDocument]) -> None:
    doc = docs[KENPO]
    preamble = doc.sections[0]
    assert (preamble.key, preamble.label, len(preamble.paragraphs)) == ("preamble", "前文", 4)
    assert preamble.text.startswith("日本国民は、正当に選挙された国会における代表者を通じて行動し")
    assert by_key(doc)["9"].path == ("第二章　戦争の放棄",)


def test_matches_xml_of_earlier_revision(docs: dict[str, ParsedDocument], shared_corpus: Path) -> None:
    """行政手続法: XML (2024-04-01) and HTML (2024-09-26) agree article by article."""
    xml_name = "405AC0000000088_20240401_504AC0100000052.xml"
    xml_doc = egov_xml.parse((shared_corpus / "xml" / xml_name).read_bytes(), xml_name)
    html_main = {s.key: s for s in docs[GYOTETSU].sections if s.part is Part.MAIN}
    xml_main = {s.key: s for s in xml_doc.sections if s.part is Part.MAIN}
    assert list(html_main) == list(xml_main)
    for key, xml_section in xml_main.items():
        html_section = html_main[key]
        assert (html_section.label, html_section.caption, html_section.path) == (
            xml_section.label,
            xml_section.caption,
            xml_section.path,
        )

    def norm(text: str) -> str:
        return re.sub(r"\s+", "", text)

    differing = [k for k in xml_main if norm(xml_main[k].text) != norm(html_main[k].text)]
    assert len(differing) <= 0.1 * len(xml_main)
    # Only 第四条 changed between the revisions (第二編第十一章 → 第十二章 of 地方自治法).
    assert differing == ["4"]
    assert "第二編第十二章" in html_main["4"].text
    assert "第二編第十一章" in xml_main["4"].text
    # The 附則 blocks both revisions share agree too; the HTML has one more (令和六年法律第六五号).
    xml_suppl = {s.key: s.text for s in xml_doc.sections if s.part is Part.SUPPL}
    html_suppl = {s.key: s.text for s in docs[GYOTETSU].sections if s.part is Part.SUPPL}
    assert {k: html_suppl[k] for k in xml_suppl} == xml_suppl
    assert set(html_suppl) - set(xml_suppl) == {"suppl14_1"}


def test_sniff(shared_corpus: Path) -> None:
    data = (shared_corpus / "egov_html" / GYOTETSU).read_bytes()
    assert egov_html.sniff(data, GYOTETSU)
    assert not egov_html.sniff(b"<html><body><p>notice</p></body></html>", "n.html")
    assert not egov_html.sniff(b"<Law></Law>", "x.xml")


def test_garbage_raises(shared_corpus: Path) -> None:
    with pytest.raises(ParseError, match=r"page\.html: no #lawTitle"):
        egov_html.parse(b"<html><body><p>hello</p></body></html>", "page.html")
    data = (shared_corpus / "egov_html" / GYOTETSU).read_bytes()
    with pytest.raises(ParseError, match="file name must be a law id"):
        egov_html.parse(data, "gyosei.html")
    no_body = b'<html><body><div id="lawTitle"><span>x</span></div></body></html>'
    with pytest.raises(ParseError, match="no MainProvision"):
        egov_html.parse(no_body, "405AC0000000088.html")
    empty = no_body.replace(b"</body>", b'<section class="active MainProvision"></section></body>')
    with pytest.raises(ParseError, match="neither articles nor paragraphs"):
        egov_html.parse(empty, "405AC0000000088.html")
