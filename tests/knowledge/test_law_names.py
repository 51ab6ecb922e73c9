import pytest

from knowledge.citations import LawTitleIndex, load_abbreviations
from knowledge.law_names import law_names, unknown_laws

INDEX = LawTitleIndex.from_titles(
    [
        ("地方自治法", "322AC0000000067"),
        ("地方自治法施行令", "322CO0000000016"),
        ("民法", "129AC0000000089"),
        ("行政手続法", "405AC0000000088"),
    ],
    abbreviations=load_abbreviations(),
)


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("金融商品取引法第5条第6項により提出できる書類は", ["金融商品取引法"]),
        ("自治法238条の4", ["自治法"]),
        ("民法と道路法の関係", ["民法", "道路法"]),
        ("申請の方法を教えて", []),
        ("違法な支出への対応は", []),
        ("同法第3条の趣旨", []),
        ("個人情報の保護に関する法律の第69条", []),
        # the order or rule under an act is a name of its own
        ("災害救助法施行令3条の額", ["災害救助法施行令"]),
        ("航空法施行規則で定める", ["航空法施行規則"]),
        ("災害救助法と同法施行令", ["災害救助法"]),
        ("施行令167条の2", []),
    ],
)
def test_law_names(question: str, names: list[str]) -> None:
    assert law_names(question) == names


def test_unknown_laws_are_those_the_index_lacks() -> None:
    assert unknown_laws("金融商品取引法第5条と自治法238条の4", INDEX) == ["金融商品取引法"]
    assert unknown_laws("行手法5条", INDEX) == []
    assert unknown_laws("道路法の占用許可", INDEX) == ["道路法"]


def test_an_order_the_index_lacks_is_unknown_even_when_its_act_is_held() -> None:
    """「民法施行法」 or 「地方自治法施行規則」 is not in the knowledge base because 民法 or 地方自治法 is:
    answering from the act would cite a provision the question did not ask about."""
    assert unknown_laws("地方自治法施行規則第12条の様式", INDEX) == ["地方自治法施行規則"]
    assert unknown_laws("地方自治法施行令167条の2", INDEX) == []
    assert unknown_laws("自治法施行令の規定", INDEX) == []
