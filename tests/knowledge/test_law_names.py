import pytest

from knowledge.citations import LawTitleIndex, load_abbreviations
from knowledge.law_names import law_names, provided_for, unknown_laws

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
        # words for a kind of law name no law; a law's title that ends in one stays a name
        ("生活保護の根拠法は？", []),
        ("国の手続法と手続条例の関係", []),
        ("特別法と一般法、上位法に反する条例", []),
        ("地方自治特別法の住民投票", []),
        ("行政手続法と災害対策基本法", ["行政手続法", "災害対策基本法"]),
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


def test_a_former_title_and_a_colloquial_name_are_the_held_law() -> None:
    index = LawTitleIndex.from_titles(
        [
            ("障害者の日常生活及び社会生活を総合的に支援するための法律", "417AC0000000123"),
            ("個人情報の保護に関する法律", "415AC0000000057"),
        ],
        abbreviations=load_abbreviations(),
    )
    assert unknown_laws("障害者自立支援法の補装具", index) == []
    assert unknown_laws("個人情報法で第三者に提供できる場合", index) == []
    assert unknown_laws("根拠法は何か", index) == []


def test_a_law_is_provided_for_when_the_article_says_in_one_sentence_whether_it_applies() -> None:
    applied = "前項の許可については、借地借家法（平成三年法律第九十号）の規定は、適用しない。"
    listed = (
        "労働基準法（昭和二十二年法律第四十九号）第二条、第十四条第二項及び第三項並びに第百二条の規定は、"
        "職員に関して適用しない。"
    )
    asked = "行政財産の使用許可に借地借家法は適用される？"
    assert provided_for(["借地借家法"], asked, applied) == {"借地借家法"}
    staff = "会計年度任用職員にも労働基準法は当てはまる？"
    assert provided_for(["労働基準法"], staff, listed) == {"労働基準法"}
    assert provided_for(["借地借家法"], "使用許可は借地借家法の対象になる？", applied) == {"借地借家法"}
    # named, but whether it applies is not what the sentence says
    named = "借地借家法の定めるところによる。この条の規定は、適用しない。"
    assert not provided_for(["借地借家法"], asked, named)
    assert not provided_for(["金融商品取引法"], "金融商品取引法は適用される？", applied)
    # a question on the law's own content, not whether it applies
    assert not provided_for(["借地借家法"], "借地借家法の更新拒絶の正当事由は？", applied)
