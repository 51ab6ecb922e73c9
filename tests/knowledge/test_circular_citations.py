from __future__ import annotations

from knowledge.circular_citations import CIRCULAR_ABBREVIATIONS, CircularIndex, ItemCitation, find_items
from knowledge.citations import load_abbreviations
from knowledge.numerals import item_key

PAGES = [  # one circular stored as several documents, one per page, each titled by the circular
    ("法人税基本通達", "laws/nta:law_tsutatsu_kihon_hojin_01_01_01"),
    ("法人税基本通達", "laws/nta:law_tsutatsu_kihon_hojin_09_09_02_03"),
    ("所得税基本通達", "laws/nta:law_tsutatsu_kihon_shotoku_30_01"),
    ("相続税法基本通達", "laws/nta:law_tsutatsu_kihon_sisan_sozoku2_01_01"),
    ("地方自治法", "322AC0000000067"),
]
INDEX = CircularIndex.from_titles(PAGES, load_abbreviations(CIRCULAR_ABBREVIATIONS))
HOJIN = ("laws/nta:law_tsutatsu_kihon_hojin_01_01_01", "laws/nta:law_tsutatsu_kihon_hojin_09_09_02_03")


def test_item_numbers_are_keyed_as_the_parser_keys_them() -> None:
    assert item_key("1－1－4") == "1-1-4"
    assert item_key("183～193共－6") == "183~193共-6"
    assert item_key("1の3・1の4共－5") == "1の3・1の4共-5"
    assert item_key("9－2－12の3　") == "9-2-12の3"


def test_a_circular_is_cited_by_its_name_or_its_abbreviation_with_an_item_number() -> None:
    hojin = "法人税基本通達"
    assert find_items("法人税基本通達1－1－4の本店所在地", INDEX) == [ItemCitation(hojin, HOJIN, ("1-1-4",))]
    assert find_items("法基通の9-2-12の3を見たい", INDEX) == [ItemCitation(hojin, HOJIN, ("9-2-12の3",))]
    assert find_items("相基通1の3・1の4共-5", INDEX)[0].keys == ("1の3・1の4共-5",)
    both = find_items("所得税基本通達183～193共－6と法基通1-1-1", INDEX)
    assert [(c.title, c.keys) for c in both] == [("所得税基本通達", ("183~193共-6",)), (hojin, ("1-1-1",))]


def test_a_range_common_item_typed_with_a_hyphen_is_read_both_ways() -> None:
    (cited,) = find_items("所基通183-193共-6って何？", INDEX)
    assert cited.keys == ("183-193共-6", "183~193共-6")
    assert cited.doc_ids == ("laws/nta:law_tsutatsu_kihon_shotoku_30_01",)


def test_no_item_without_a_number_nor_for_a_circular_not_held() -> None:
    assert find_items("法人税基本通達の考え方を教えて", INDEX) == []
    assert find_items("消基通5-1-1", INDEX) == []  # 消費税法基本通達 is not among the documents
    assert find_items("地方自治法1-1-1", INDEX) == []  # a law is cited by 第…条 (knowledge/citations.py)
    assert INDEX.names("法人税基本通達") and not INDEX.names("地方自治法") and not INDEX.names(None)
