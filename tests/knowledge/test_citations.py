"""Explicit citations: 「自治法238条の4」 → 地方自治法 (322AC0000000067) article "238_4"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.citations import (
    DEFAULT_ABBREVIATIONS,
    CitationRef,
    LawTitleIndex,
    ResolvedCitation,
    find_citations,
    load_abbreviations,
    mentions_article,
    normalize_with_offsets,
)
from knowledge.documents import ParseError

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
LAWS_JSON = SHARED / "index" / "laws.json"

JICHI = "322AC0000000067"  # 地方自治法
JICHI_REI = "322CO0000000016"  # 地方自治法施行令
JICHI_KISOKU = "322M40000008029"  # 地方自治法施行規則
CHIKO = "325AC0000000261"  # 地方公務員法
GYOTE = "405AC0000000088"  # 行政手続法
KOJO = "415AC0000000057"  # 個人情報の保護に関する法律
SAITAI = "336AC0000000223"  # 災害対策基本法
SAITAI_REI = "337CO0000000288"  # 災害対策基本法施行令
KENPO = "321CONSTITUTION"
BANGO = "425AC0000000027"  # 番号法
DOKKIN = "322AC0000000054"  # 独占禁止法 (listed under its law number)
KOSEKI = "322AC0000000224"  # 戸籍法
KOKU = "327AC0000000231"  # 航空法


def _laws() -> list[dict[str, str]]:
    return json.loads(LAWS_JSON.read_text(encoding="utf-8"))["laws"]


@pytest.fixture(scope="module")
def index() -> LawTitleIndex:
    pairs = [(law["title"], law["id"]) for law in _laws()]
    return LawTitleIndex.from_titles(pairs, abbreviations=load_abbreviations())


def _simple(cites: list[ResolvedCitation]) -> list[tuple[str | None, str, int | None, int | None]]:
    return [(c.law_id, c.article, c.paragraph, c.item) for c in cites]


# --------------------------------------------------------------------------- find_citations

CASES: list[tuple[str, list[tuple[str | None, str, int | None, int | None]]]] = [
    # the evaluation questions
    ("自治法238条の4", [(JICHI, "238_4", None, None)]),
    ("地方公務員法第三十八条の内容を教えて", [(CHIKO, "38", None, None)]),
    ("行政手続法５条", [(GYOTE, "5", None, None)]),
    # abbreviations, paragraphs and items in every script
    ("地公法38条1項", [(CHIKO, "38", 1, None)]),
    ("個情法第六十九条第２項第一号", [(KOJO, "69", 2, 1)]),
    ("災対法の60条", [(SAITAI, "60", None, None)]),
    ("憲法25条", [(KENPO, "25", None, None)]),
    ("日本国憲法第二十五条第一項", [(KENPO, "25", 1, None)]),
    ("地自法第２３８条の４第１項", [(JICHI, "238_4", 1, None)]),
    ("地方自治法二百三十八条の四", [(JICHI, "238_4", None, None)]),
    ("番号法第19条第1号", [(BANGO, "19", None, 1)]),
    ("マイナンバー法１９条", [(BANGO, "19", None, None)]),
    ("独禁法3条", [(DOKKIN, "3", None, None)]),
    ("私的独占の禁止及び公正取引の確保に関する法律第3条", [(DOKKIN, "3", None, None)]),
    ("戸籍法第10条の2の規定", [(KOSEKI, "10_2", None, None)]),
    ("航空法 第132条の85", [(KOKU, "132_85", None, None)]),
    ("「地方自治法」第238条", [(JICHI, "238", None, None)]),
    ("地方自治法（昭和22年法律第67号）第238条", [(JICHI, "238", None, None)]),
    ("地方自治法では第２条", [(JICHI, "2", None, None)]),
    # の-branches at any depth, kanji without a law
    ("第十条の二の三", [(None, "10_2_3", None, None)]),
    ("第5条", [(None, "5", None, None)]),
    ("第５条の一部を改正する", [(None, "5", None, None)]),
    # a number before 項/号 is a paragraph or an item, not a branch (staff write 242条の2の4号)
    ("自治法242条の2の4号請求", [(JICHI, "242_2", None, 4)]),
    ("自治法242条の2の十二号", [(JICHI, "242_2", None, 12)]),
    ("地公法38条の1項", [(CHIKO, "38", 1, None)]),
    # nor is a number before a counter: the article's period or amount is asked about
    ("地公法29条の3か月", [(CHIKO, "29", None, None)]),
    ("地公法第二十九条の三箇月", [(CHIKO, "29", None, None)]),
    ("地公法29条の2年以内", [(CHIKO, "29", None, None)]),
    ("地公法29条の2ヶ月", [(CHIKO, "29", None, None)]),
    ("地公法29条の2の3か月", [(CHIKO, "29_2", None, None)]),
    # a circled number after an article is its paragraph (the 六法's mark), not more digits
    ("自治法242条の2①の内容", [(JICHI, "242_2", 1, None)]),
    ("地公法38条②", [(CHIKO, "38", 2, None)]),
    ("第二百四十二条の二③", [(None, "242_2", 3, None)]),
    ("第二百五十二条の十七の二第一項", [(None, "252_17_2", 1, None)]),
    # a branched number without 条 right after a law's name (and in a list after it) is an article
    ("地方自治法242の2", [(JICHI, "242_2", None, None)]),
    ("自治法242の2第1項第4号の住民訴訟", [(JICHI, "242_2", 1, 4)]),
    ("地方自治法242の2①", [(JICHI, "242_2", 1, None)]),
    ("自治法252の17の2", [(JICHI, "252_17_2", None, None)]),
    ("自治法238の4及び238の5", [(JICHI, "238_4", None, None), (JICHI, "238_5", None, None)]),
    ("地公法29の2の3か月", [(CHIKO, "29_2", None, None)]),
    ("人口10の2倍", []),
    ("自治法の施行から10の2年", []),
    ("公選法2024の改正", []),
    # orders and rules: the longest title wins, 施行令 after a named law
    ("地方自治法施行令第167条の2", [(JICHI_REI, "167_2", None, None)]),
    ("自治令167条の2", [(JICHI_REI, "167_2", None, None)]),
    ("自治法施行令167条の2", [(JICHI_REI, "167_2", None, None)]),
    ("地方自治法施行令について。施行令167条の2は？", [(JICHI_REI, "167_2", None, None)]),
    ("自治法234条と施行令167条の2", [(JICHI, "234", None, None), (JICHI_REI, "167_2", None, None)]),
    ("地方自治法施行規則第12条の2", [(JICHI_KISOKU, "12_2", None, None)]),
    ("災対法60条と同法施行令第33条", [(SAITAI, "60", None, None), (SAITAI_REI, "33", None, None)]),
    # no law named: 「施行令」 alone is what municipal staff mean by it, 地方自治法施行令
    ("施行令167条の2", [(JICHI_REI, "167_2", None, None)]),
    ("施行令第百七十一条の七", [(JICHI_REI, "171_7", None, None)]),
    ("地公法施行令第1条", [(None, "1", None, None)]),  # 地方公務員法施行令 does not exist
    # 同法 / 同令 / 同条 / 法・令
    (
        "地方自治法第234条と同法第238条の4",
        [(JICHI, "234", None, None), (JICHI, "238_4", None, None)],
    ),
    (
        "地方自治法施行令第167条の2及び同令第167条の3",
        [(JICHI_REI, "167_2", None, None), (JICHI_REI, "167_3", None, None)],
    ),
    (
        "地方自治法施行令第167条の2と同法第234条",  # no act named before: 同法 is unresolved
        [(JICHI_REI, "167_2", None, None), (None, "234", None, None)],
    ),
    ("地方公務員法第38条第1項、同条第2項", [(CHIKO, "38", 1, None), (CHIKO, "38", 2, None)]),
    ("個情法69条2項、同項第4号", [(KOJO, "69", 2, None), (KOJO, "69", 2, 4)]),
    ("地方自治法第234条、令第167条の2", [(JICHI, "234", None, None), (JICHI_REI, "167_2", None, None)]),
    ("同法第3条", [(None, "3", None, None)]),
    # lists and ranges inherit the law
    (
        "自治法238条の4及び238条の5",
        [(JICHI, "238_4", None, None), (JICHI, "238_5", None, None)],
    ),
    (
        "地方自治法第238条の4第1項及び第2項",
        [(JICHI, "238_4", 1, None), (JICHI, "238_4", 2, None)],
    ),
    (
        "地方自治法第5条から第7条まで",
        [(JICHI, "5", None, None), (JICHI, "6", None, None), (JICHI, "7", None, None)],
    ),
    ("自治法5～7条", [(JICHI, "5", None, None), (JICHI, "6", None, None), (JICHI, "7", None, None)]),
    (
        "地方自治法第10条から第10条の3まで",
        [(JICHI, "10", None, None), (JICHI, "10_3", None, None)],
    ),
    (
        "地方自治法第252条の17第1項から第3項まで",
        [(JICHI, "252_17", 1, None), (JICHI, "252_17", 2, None), (JICHI, "252_17", 3, None)],
    ),
    (
        "番号法第19条第1号から第3号まで",
        [(BANGO, "19", None, 1), (BANGO, "19", None, 2), (BANGO, "19", None, 3)],
    ),
    # a law named elsewhere in the sentence does not claim an unrelated article
    ("地方自治法に基づく条例第3条", [(None, "3", None, None)]),
    ("地方自治法第5条と条例第3条", [(JICHI, "5", None, None), (None, "3", None, None)]),
    ("三条市の条例第3条", [(None, "3", None, None)]),
    # an article number inside a law title is part of the title
    (
        "地方自治法第二百五十二条の十九第一項の指定都市の指定に関する政令第1条",
        [("331CO0000000254", "1", None, None)],
    ),
    # negatives: 条例 / 条件 / 条約, ordinals, place names
    ("条例で定める", []),
    ("条件付きで許可できますか", []),
    ("第3者に提供してよいか", []),
    ("第三者の個人情報", []),
    ("三条市の職員です", []),
    ("地方自治法の三条市への適用", []),
    ("京都の二条城", []),
    ("一から三条まで歩く", []),
    ("地方自治法二から四条", [(JICHI, "2", None, None), (JICHI, "3", None, None), (JICHI, "4", None, None)]),
    ("条約の締結", []),
    ("市の庁舎の空きスペースを民間のカフェに貸すことはできますか？", []),
    ("令和5年度の補助金", []),
    ("2024-5条", [(None, "5", None, None)]),  # not a range: only 5条 is an article
]


@pytest.mark.parametrize(("question", "expected"), CASES, ids=[c[0] for c in CASES])
def test_find_citations(index: LawTitleIndex, question: str, expected: list[tuple]) -> None:
    assert _simple(find_citations(question, index)) == expected


def test_law_title_is_the_official_title(index: LawTitleIndex) -> None:
    [cite] = find_citations("行手法５条", index)
    assert cite.law_title == "行政手続法"
    assert cite.key == f"{GYOTE}:5"
    assert isinstance(cite, CitationRef)


def test_citation_without_law_has_no_title(index: LawTitleIndex) -> None:
    [cite] = find_citations("条例第3条を見て", index)
    assert (cite.law_title, cite.law_id, cite.key) == (None, None, None)
    assert (cite.span, cite.matched) == ((2, 5), "第3条")


@pytest.mark.parametrize(
    ("question", "spans"),
    [
        ("自治法238条の4", [((0, 9), "自治法238条の4")]),
        ("質問です。地方公務員法第三十八条の内容", [((5, 16), "地方公務員法第三十八条")]),
        ("ｶﾞｲﾄﾞ：地方自治法第２３８条の４第１項", [((6, 21), "地方自治法第２３８条の４第１項")]),
        ("自治法施行令167条の2", [((0, 12), "自治法施行令167条の2")]),
        (
            "地方公務員法第38条第1項、同条第2項",
            [((0, 13), "地方公務員法第38条第1項"), ((14, 19), "同条第2項")],
        ),
        (
            "自治法第5条から第7条まで",
            [((0, 6), "自治法第5条"), ((0, 11), "自治法第5条から第7条"), ((8, 11), "第7条")],
        ),
    ],
)
def test_spans_refer_to_the_original_text(
    index: LawTitleIndex, question: str, spans: list[tuple[tuple[int, int], str]]
) -> None:
    cites = find_citations(question, index)
    assert [(c.span, c.matched) for c in cites] == spans
    for cite in cites:
        assert question[cite.span[0] : cite.span[1]] == cite.matched


def test_ranges_are_capped(index: LawTitleIndex) -> None:
    cites = find_citations("地方自治法第1条から第100条まで", index)
    assert [c.article for c in cites] == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "100"]
    short = find_citations("自治法1～50条", index)
    assert len(short) == 10
    assert short[-1].article == "50"


def test_non_string_question_is_rejected(index: LawTitleIndex) -> None:
    with pytest.raises(TypeError, match="must be str"):
        find_citations(b"\xe7\xac\xac5\xe6\x9d\xa1", index)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- LawTitleIndex


@pytest.mark.parametrize(
    ("name", "law_id"),
    [
        ("地方自治法", JICHI),
        ("自治法", JICHI),
        ("地方自治法施行令", JICHI_REI),
        ("自治令", JICHI_REI),
        ("ﾏｲﾅﾝﾊﾞｰ法", BANGO),  # half-width katakana: NFKC
        ("憲法", KENPO),
        ("私的独占の禁止及び公正取引の確保に関する法律", DOKKIN),  # parenthesised name of a numbered title
        ("日本学術会議法", "507AC0000000070"),  # two laws share the title: the newer wins
        ("存在しない法律", None),
    ],
)
def test_lookup(index: LawTitleIndex, name: str, law_id: str | None) -> None:
    assert index.lookup(name) == law_id


def test_index_size_and_titles(index: LawTitleIndex) -> None:
    assert len(index) == len({law["title"] for law in _laws()})
    assert index.resolve("災対法") == ("災害対策基本法", SAITAI)


def test_small_index_with_an_ordinance() -> None:
    pairs = [("地方自治法", JICHI), ("横浜市個人情報の保護に関する条例", "yokohama-kojo")]
    small = LawTitleIndex.from_titles(pairs, abbreviations={"自治法": "地方自治法", "行手法": "行政手続法"})
    cites = find_citations("横浜市個人情報の保護に関する条例第3条と自治法2条", small)
    assert _simple(cites) == [("yokohama-kojo", "3", None, None), (JICHI, "2", None, None)]
    # an abbreviation of a law outside the knowledge base keeps its title but has no id
    [cite] = find_citations("行手法5条", small)
    assert (cite.law_title, cite.law_id) == ("行政手続法", None)
    # 施行令 only resolves when the order is in the index
    assert _simple(find_citations("自治法234条、施行令167条の2", small)) == [
        (JICHI, "234", None, None),
        (None, "167_2", None, None),
    ]


def test_index_rejects_empty_pairs() -> None:
    with pytest.raises(ValueError, match="empty title or law id"):
        LawTitleIndex.from_titles([("地方自治法", "")])


# --------------------------------------------------------------------------- abbreviations


def test_abbreviation_table_names_real_laws() -> None:
    table = load_abbreviations()
    assert len(set(table.values())) >= 40
    assert table["自治法"] == "地方自治法"
    assert table["障害者総合支援法"] == "障害者の日常生活及び社会生活を総合的に支援するための法律"
    titles = {law["title"] for law in _laws()}
    assert sorted(set(table.values()) - titles) == []
    assert sorted(set(table) & titles) == []  # no abbreviation is another law's title


def test_load_abbreviations_reads_a_given_path(tmp_path: Path) -> None:
    path = tmp_path / "abbrev.yaml"
    path.write_text("地方自治法: [自治法, 地自法]\n行政手続法: [行手法]\n", encoding="utf-8")
    expected = {"自治法": "地方自治法", "地自法": "地方自治法", "行手法": "行政手続法"}
    assert load_abbreviations(path) == expected
    assert DEFAULT_ABBREVIATIONS.name == "law_abbreviations.yaml"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- 自治法\n", "expected a mapping"),
        ("地方自治法: 自治法\n", "non-empty list"),
        ("地方自治法: [自]\n", "bad abbreviation"),
        ("地方自治法: [自治法]\n地方自治法施行令: [自治法]\n", "names both"),
        ("地方自治法: [自治法\n", "cannot read"),
    ],
)
def test_load_abbreviations_rejects_bad_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "abbrev.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ParseError, match=message):
        load_abbreviations(path)


def test_load_abbreviations_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="cannot read"):
        load_abbreviations(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------- normalisation


def test_normalize_with_offsets_maps_back() -> None:
    text = "ｶﾞｲﾄﾞ　第２３８条①"
    normalized, starts, ends = normalize_with_offsets(text)
    assert normalized == "ガイド 第238条第1項"  # ① after an article: its paragraph
    assert len(starts) == len(ends) == len(normalized)
    assert (starts[0], ends[0]) == (0, 2)  # ガ comes from ｶ + ﾞ
    assert (starts[normalized.index("2")], ends[normalized.index("2")]) == (7, 8)
    assert starts[-1] == len(text) - 1


def test_bare_order_is_the_only_one_held_or_none_when_ambiguous() -> None:
    """「施行令」 with no law named: the one order the index holds; with several and no 地方自治法施行令,
    nothing (a guess would cite the wrong order)."""
    abbreviations = load_abbreviations()
    only = LawTitleIndex.from_titles(
        [("災害対策基本法施行令", "337CO0000000288")], abbreviations=abbreviations
    )
    assert _simple(find_citations("施行令33条", only)) == [("337CO0000000288", "33", None, None)]
    several = LawTitleIndex.from_titles(
        [("災害対策基本法施行令", "337CO0000000288"), ("生活保護法施行令", "325CO0000000148")],
        abbreviations=abbreviations,
    )
    assert _simple(find_citations("施行令33条", several)) == [(None, "33", None, None)]


def test_an_article_number_is_a_mention_with_or_without_a_law() -> None:
    assert mentions_article("では第9999条は？") and mentions_article("同法242条の2は？")
    assert mentions_article("地方自治法第二百四十二条")
    assert not mentions_article("それは会計年度任用職員にも適用される？")
    assert not mentions_article("百条委員会に呼ばれた")
