"""e-Gov 法令標準XML and API v2 law_data XML against the real corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from knowledge.documents import DocKind, ParsedDocument, ParseError, Part
from knowledge.parsers import egov_xml
from knowledge.parsers.egov_common import article_key

GYOTETSU = "405AC0000000088_20240401_504AC0100000052.xml"  # 行政手続法
KOKU = "327AC0000000231_20240401_505AC0000000063.xml"  # 航空法
API_RESPONSE = "api_v2_law_data_response/504CO0000000187.xml"  # 借地借家法施行令


@pytest.fixture(scope="module")
def docs(shared_corpus: Path) -> dict[str, ParsedDocument]:
    out = {}
    for name in (GYOTETSU, KOKU, API_RESPONSE):
        path = shared_corpus / "xml" / name
        out[name] = egov_xml.parse(path.read_bytes(), path.name)
    return out


def by_key(doc: ParsedDocument) -> dict:
    return {s.key: s for s in doc.sections}


# Counts checked independently with lxml xpath on the files:
# count(//MainProvision//Article), count(//SupplProvision//Article), count(//SupplProvision),
# count(//AppdxTable).
@pytest.mark.parametrize(
    ("name", "main", "suppl_articles", "suppl_blocks", "appendices"),
    [(GYOTETSU, 48, 21, 14, 0), (KOKU, 345, 186, 73, 1)],
)
def test_counts(
    docs: dict[str, ParsedDocument],
    shared_corpus: Path,
    name: str,
    main: int,
    suppl_articles: int,
    suppl_blocks: int,
    appendices: int,
) -> None:
    doc = docs[name]
    tree = etree.parse(str(shared_corpus / "xml" / name))
    assert tree.xpath("count(//MainProvision//Article)") == main
    assert sum(s.part is Part.MAIN for s in doc.sections) == main
    assert sum(s.part is Part.SUPPL and "_" in s.key for s in doc.sections) == suppl_articles
    assert len({s.key.split("_")[0] for s in doc.sections if s.part is Part.SUPPL}) == suppl_blocks
    assert sum(s.part is Part.APPENDIX for s in doc.sections) == appendices
    assert len({s.key for s in doc.sections}) == len(doc.sections)


def test_metadata_from_file_name(docs: dict[str, ParsedDocument]) -> None:
    doc = docs[GYOTETSU]
    assert doc.doc_id == "405AC0000000088"
    assert doc.kind is DocKind.LAW
    assert doc.title == "行政手続法"
    assert doc.law_num == "平成五年法律第八十八号"
    assert doc.revision_id == "405AC0000000088_20240401_504AC0100000052"
    assert doc.effective_date == "2024-04-01"
    assert doc.abbrev == ("行手法",)


def test_law_id_derived_from_law_attributes_without_id_in_name(shared_corpus: Path) -> None:
    doc = egov_xml.parse((shared_corpus / "xml" / GYOTETSU).read_bytes(), "downloads/gyosei.xml")
    assert doc.doc_id == "405AC0000000088"
    assert doc.revision_id == ""
    assert doc.effective_date == ""


def test_keys_follow_article_num_and_titles(docs: dict[str, ParsedDocument]) -> None:
    for name in (GYOTETSU, KOKU):
        for section in docs[name].sections:
            if section.part is Part.MAIN:
                assert article_key(section.label) == section.key, section.label


def test_article_text_caption_path(docs: dict[str, ParsedDocument]) -> None:
    sections = by_key(docs[GYOTETSU])
    art15 = sections["15"]
    assert art15.label == "第十五条"
    assert art15.caption == "（聴聞の通知の方式）"
    assert art15.path == ("第三章　不利益処分", "第二節　聴聞")
    assert len(art15.paragraphs) == 3
    assert art15.paragraphs[0].split("\n")[:2] == [
        "行政庁は、聴聞を行うに当たっては、聴聞を行うべき期日までに相当な期間をおいて、"
        "不利益処分の名あて人となるべき者に対し、次に掲げる事項を書面により通知しなければならない。",
        "一　予定される不利益処分の内容及び根拠となる法令の条項",
    ]
    assert art15.paragraphs[1].startswith("２　前項の書面においては、")
    assert art15.text == "\n".join(art15.paragraphs)
    # Items with columns: title, term and definition separated by full-width spaces; subitems as lines.
    art2 = sections["2"].text.split("\n")
    assert art2[1] == (
        "一　法令　法律、法律に基づく命令（告示を含む。）、条例及び地方公共団体の執行機関の規則"
        "（規程を含む。以下「規則」という。）をいう。"
    )
    assert "ロ　地方公共団体の機関（議会を除く。）" in art2


def test_suppl_blocks(docs: dict[str, ParsedDocument]) -> None:
    sections = by_key(docs[GYOTETSU])
    first = sections["suppl0"]  # original 附則: paragraphs only
    assert (first.label, first.part, first.caption) == ("附則", Part.SUPPL, "（施行期日）（経過措置）")
    assert len(first.paragraphs) == 4
    assert first.paragraphs[1].startswith("２　この法律の施行前に第十五条第一項又は第三十条")
    amend = sections["suppl1_1"]
    assert amend.label == "附則（平成一一年一二月八日法律第一五一号）第一条"
    assert amend.text == "この法律は、平成十二年四月一日から施行する。"


def test_deleted_range_and_table(docs: dict[str, ParsedDocument]) -> None:
    sections = by_key(docs[KOKU])
    deleted = sections["121:122"]
    assert (deleted.label, deleted.text) == ("第百二十一条及び第百二十二条", "削除")
    assert sections["138:142"].text == "削除"
    art65 = sections["65"].paragraphs[1].split("\n")
    assert art65[1] == "航空機　業務"
    assert art65[2].startswith(
        "次の各号の一に該当する航空機　一　構造上、その操縦のために二人を要する航空機　二　"
    )
    appendix = sections["appdx0"]
    assert (appendix.label, appendix.part) == ("別表（第二十八条関係）", Part.APPENDIX)
    assert appendix.text.split("\n")[0] == "資格　業務範囲"


def test_api_response_with_paragraph_only_main_provision(docs: dict[str, ParsedDocument]) -> None:
    doc = docs[API_RESPONSE]
    assert doc.doc_id == "504CO0000000187"
    assert doc.kind is DocKind.CABINET_ORDER
    assert doc.title == "借地借家法施行令"
    assert doc.law_num == "令和四年政令第百八十七号"
    assert doc.revision_id == "504CO0000000187_20220518_000000000000000"
    assert doc.effective_date == "2022-05-18"
    assert doc.abbrev == ()
    assert [(s.key, s.label, s.part) for s in doc.sections] == [
        ("main", "本則", Part.MAIN),
        ("suppl0", "附則", Part.SUPPL),
    ]
    main = doc.sections[0]
    assert len(main.paragraphs) == 2
    assert main.paragraphs[1] == (
        "２　建物の賃貸人は、前項の承諾を得た場合であっても、当該承諾に係る建物の賃借人から書面等により"
        "借地借家法第三十八条第四項の規定による電磁的方法による提供を受けない旨の申出があったときは、"
        "当該電磁的方法による提供をしてはならない。ただし、当該申出の後に当該建物の賃借人から再び"
        "前項の承諾を得た場合は、この限りでない。"
    )


def test_sniff(shared_corpus: Path) -> None:
    assert egov_xml.sniff((shared_corpus / "xml" / GYOTETSU).read_bytes(), GYOTETSU)
    assert egov_xml.sniff((shared_corpus / "xml" / API_RESPONSE).read_bytes(), "504CO0000000187.xml")
    assert not egov_xml.sniff(b"<html><body>Law</body></html>", "x.html")
    assert not egov_xml.sniff(b'{"law_full_text": {}}', "x.json")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<Law><LawBody>", "malformed XML"),
        (b"not xml at all", "malformed XML"),
        (b"<html><body/></html>", "root element <html>"),
        (b"<law_data_response><law_info/></law_data_response>", "no law_full_text/Law"),
        (b"<Law><LawNum>x</LawNum></Law>", "no <LawBody>"),
        (b"<Law><LawBody><LawTitle>t</LawTitle></LawBody></Law>", "no <MainProvision>"),
        (b"<Law><LawBody><MainProvision/></LawBody></Law>", "neither articles nor paragraphs"),
    ],
)
def test_garbage_raises(data: bytes, message: str) -> None:
    with pytest.raises(ParseError) as err:
        egov_xml.parse(data, "405AC0000000088_20240401_504AC0100000052.xml")
    assert message in str(err.value)
    assert "405AC0000000088_20240401_504AC0100000052.xml" in str(err.value)


def test_unknown_law_id_raises() -> None:
    data = (
        b'<Law Era="Heisei" Year="12" LawType="MinisterialOrdinance" Num="5"><LawNum>n</LawNum>'
        b"<LawBody><LawTitle>t</LawTitle><MainProvision><Paragraph Num='1'><ParagraphNum/>"
        b"<ParagraphSentence><Sentence>s</Sentence></ParagraphSentence></Paragraph></MainProvision>"
        b"</LawBody></Law>"
    )
    with pytest.raises(ParseError, match="cannot determine the law id"):
        egov_xml.parse(data, "ordinance.xml")
