"""Small synthetic documents for store and search tests (real statute wording, few articles)."""

from __future__ import annotations

from dataclasses import replace

from knowledge.documents import DocKind, ParsedDocument, ParsedSection, Part
from knowledge.ingest import SourceItem, build_write
from knowledge.numerals import num_to_article_title
from knowledge.store import KnowledgeStore
from knowledge.tokenize import Segmenter

JICHI_ID = "322AC0000000067"

ARTICLE_238_4 = (
    "行政財産は、次項から第四項までに定めるものを除くほか、これを貸し付け、交換し、売り払い、譲与し、出資の目的とし、"
    "若しくは信託し、又はこれに私権を設定することができない。"
)
ARTICLE_225 = (
    "普通地方公共団体は、第二百三十八条の四第七項の規定による許可を受けてする行政財産の使用又は公の施設の利用につき"
    "使用料を徴収することができる。"
)


def jichi(
    revision: str = "20250601", *, extra: bool = False, text_238_4: str = ARTICLE_238_4
) -> ParsedDocument:
    sections = [
        ParsedSection(
            key="225",
            label="第二百二十五条",
            caption="（使用料）",
            text=ARTICLE_225,
            path=("第二編　普通地方公共団体", "第九章　財務", "第三節　収入"),
            paragraphs=(ARTICLE_225,),
        ),
        ParsedSection(
            key="238_4",
            label="第二百三十八条の四",
            caption="（行政財産の管理及び処分）",
            text=text_238_4,
            path=("第二編　普通地方公共団体", "第九章　財務", "第九節　財産", "第一款　公有財産"),
            paragraphs=(text_238_4,),
        ),
        ParsedSection(
            key="suppl0_1",
            label="附則第一条",
            text="この法律は、日本国憲法施行の日から、これを施行する。",
            part=Part.SUPPL,
        ),
    ]
    if extra:
        sections.append(
            ParsedSection(
                key="242",
                label="第二百四十二条",
                caption="（住民監査請求）",
                text="普通地方公共団体の住民は、当該普通地方公共団体の長若しくは委員会若しくは委員又は当該普通地方公共団体の職員について、"
                "違法若しくは不当な公金の支出があると認めるときは、監査委員に対し、監査を求めることができる。",
            )
        )
    return ParsedDocument(
        doc_id=JICHI_ID,
        kind=DocKind.LAW,
        title="地方自治法",
        law_num="昭和二十二年法律第六十七号",
        revision_id=f"{JICHI_ID}_{revision}_504AC0000000068",
        effective_date=f"{revision[:4]}-{revision[4:6]}-{revision[6:]}",
        sections=tuple(sections),
    )


def koumuin() -> ParsedDocument:
    text_38 = (
        "職員は、任命権者の許可を受けなければ、商業、工業又は金融業その他営利を目的とする私企業を営むことを目的とする会社"
        "その他の団体の役員その他人事委員会規則で定める地位を兼ね、若しくは自ら営利を目的とする私企業を営み、"
        "又は報酬を得ていかなる事業若しくは事務にも従事してはならない。"
    )
    caption = "（営利企業への従事等の制限）"
    law = _one_article("325AC0000000261", "地方公務員法", "2025-06-01", "38", caption, text_38)
    revision = "325AC0000000261_20250601_504AC0000000068"
    return replace(law, law_num="昭和二十五年法律第二百六十一号", revision_id=revision)


def seal_ordinance() -> ParsedDocument:
    """A city's own 印鑑条例 (an admin's 例規: written for these tests, in the usual shape of one)."""
    text_3 = (
        "印鑑の登録を受けようとする者は、登録を受けようとする印鑑を自ら市長に届け出て、"
        "登録の申請をしなければならない。"
    )
    rule = _one_article("city-a-inkan", "○○市印鑑条例", "2024-04-01", "3", "（登録の申請）", text_3)
    return replace(rule, kind=DocKind.DOCUMENT)


def _one_article(
    doc_id: str, title: str, effective: str, key: str, caption: str, text: str
) -> ParsedDocument:
    """A law of one main-provision article."""
    return ParsedDocument(
        doc_id=doc_id,
        kind=DocKind.LAW,
        title=title,
        law_num="",
        revision_id=f"{doc_id}_{effective.replace('-', '')}",
        effective_date=effective,
        sections=(
            ParsedSection(
                key=key, label=num_to_article_title(key), caption=caption, text=text, paragraphs=(text,)
            ),
        ),
    )


def write_doc(
    store: KnowledgeStore, doc: ParsedDocument, segmenter: Segmenter, collection: str = "laws"
) -> None:
    """Store ``doc`` as an ingest would (one commit) and build the indexes."""
    item = SourceItem(source=f"{doc.doc_id}.xml", collection=collection, data=b"")
    store.write([build_write(doc, item, doc.revision_id, segmenter)])
    store.ensure_indexes()
