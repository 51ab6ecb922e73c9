"""The topic catalogue: which law governs what a question is about, and whether the base holds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.bm25 import SmallBM25
from knowledge.documents import ParseError
from knowledge.law_topics import (
    LOCAL_RULES,
    CatalogueEntry,
    CatalogueIndex,
    StoreTopicJudge,
    TopicCatalogue,
    is_local_rule,
    laws_not_held,
)
from knowledge.store import KnowledgeStore
from knowledge.tokenize import Segmenter
from tests.knowledge.docs import koumuin, seal_ordinance, write_doc

CATALOGUE = TopicCatalogue(
    [
        CatalogueEntry("地方税法", ("住民税", "固定資産税", "特別徴収")),
        CatalogueEntry("介護保険法", ("介護保険料", "特別徴収", "要介護認定")),
        CatalogueEntry("児童扶養手当法", ("児童扶養手当",)),
        CatalogueEntry("特別児童扶養手当等の支給に関する法律", ("特別児童扶養手当",)),
        CatalogueEntry("所得税法", ("年末調整",), ("年末調整の書類の書き方",)),
        CatalogueEntry("道路法", ("道路占用許可",), ("歩道にベンチや看板を置きたい",)),
    ]
)


def test_mentions_take_the_longest_topic_and_never_overlap() -> None:
    mentions = CATALOGUE.mentions("特別児童扶養手当の所得制限は？")
    assert [(m.topic, m.laws) for m in mentions] == [
        ("特別児童扶養手当", ("特別児童扶養手当等の支給に関する法律",))
    ]
    both = CATALOGUE.mentions("住民税の特別徴収")
    assert {m.topic for m in both} == {"住民税", "特別徴収"}
    assert next(m for m in both if m.topic == "特別徴収").laws == ("地方税法", "介護保険法")


def test_a_topic_is_held_when_any_of_its_laws_or_a_document_named_after_it_is() -> None:
    held = ["介護保険法", "所得税法　一部改正通達"]
    assert laws_not_held(CATALOGUE.mentions("介護保険料の特別徴収"), held) == []
    assert laws_not_held(CATALOGUE.mentions("住民税の特別徴収"), held) == ["地方税法"]
    assert laws_not_held(CATALOGUE.mentions("年末調整の時期"), held) == []


def test_a_law_is_held_by_its_own_title_or_a_circular_on_it_not_by_a_longer_name() -> None:
    catalogue = TopicCatalogue(
        [
            CatalogueEntry("健康保険法", ("協会けんぽ",)),
            CatalogueEntry("借地借家法", ("借地権",)),
            CatalogueEntry("地方税法", ("住民税",)),
            CatalogueEntry("消費税法", ("免税事業者",)),
        ]
    )
    held = ["国民健康保険法", "借地借家法施行令", "地方税法等改正法及び従前に関する法律", "消費税法基本通達"]
    assert laws_not_held(catalogue.mentions("協会けんぽの扶養"), held) == ["健康保険法"]
    assert laws_not_held(catalogue.mentions("借地権の存続期間"), held) == ["借地借家法"]
    assert laws_not_held(catalogue.mentions("住民税の申告"), held) == ["地方税法"]
    assert laws_not_held(catalogue.mentions("免税事業者の判定"), held) == []
    assert laws_not_held(catalogue.mentions("住民税の申告"), [*held, "地方税法"]) == []
    tax = TopicCatalogue(
        [CatalogueEntry("法人税法", ("収益事業",)), CatalogueEntry("所得税法", ("年末調整",))]
    )
    assert laws_not_held(tax.mentions("自治会の収益事業"), ["法人税基本通達"]) == []
    assert laws_not_held(tax.mentions("年末調整の時期"), ["法人税基本通達"]) == ["所得税法"]


def test_the_municipalitys_own_rules_are_held_once_any_local_rule_is() -> None:
    catalogue = TopicCatalogue([CatalogueEntry(LOCAL_RULES, ("印鑑登録",))])
    national = ["住民基本台帳法", "住民基本台帳法施行規則", "人事院規則一四―七", "死産の届出に関する規程"]
    assert laws_not_held(catalogue.mentions("印鑑登録の代理申請"), national) == [LOCAL_RULES]
    locals_ = ("○○市印鑑条例", "子ども医療費助成事業実施要綱", "東京都公文書管理規則", "郡上市事務決裁規程")
    for local in locals_:
        assert is_local_rule(local)
        assert laws_not_held(catalogue.mentions("印鑑登録の代理申請"), [*national, local]) == []
    others = [*national, "市町村の合併の特例に関する法律", "市長規則"]
    assert not any(is_local_rule(title) for title in others)


def test_the_shipped_catalogue_reads_a_question_on_a_local_rule_as_the_municipalitys_own() -> None:
    catalogue = TopicCatalogue.load()
    index = CatalogueIndex(catalogue, segmenter=Segmenter(), held_titles=["地方自治法", "住民基本台帳法"])
    reading = index.reads_as_absent("子ども医療費の助成は中学生まで出ますか？")
    assert reading is not None and reading[0] == LOCAL_RULES
    titles = ["地方自治法", "○○市子ども医療費助成条例"]
    held = CatalogueIndex(catalogue, segmenter=Segmenter(), held_titles=titles)
    assert (held.reads_as_absent("子ども医療費の助成は中学生まで出ますか？") or ("", 0.0))[0] != LOCAL_RULES


def test_the_shipped_catalogue_reads_a_tax_held_through_its_basic_circular_as_held() -> None:
    catalogue = TopicCatalogue.load()
    titles = ["地方自治法", "法人税基本通達", "相続税法基本通達", "所得税基本通達", "消費税法基本通達"]
    index = CatalogueIndex(catalogue, segmenter=Segmenter(), held_titles=titles)
    questions = ("公益財団法人が駐車場を始めたら法人税の収益事業になりますか", "相続税の申告期限はいつまで？")
    for question in questions:
        assert laws_not_held(catalogue.mentions(question), titles) == []
        reading = index.reads_as_absent(question)
        assert reading is None or reading[1] < 0.5, reading
    assert "印紙税法" in laws_not_held(catalogue.mentions("工事の請負契約書に収入印紙は要りますか"), titles)


def test_the_shipped_catalogue_names_a_profession_s_law_only_by_its_own_institutions() -> None:
    catalogue = TopicCatalogue.load()
    titles = ["地方自治法", "戸籍法", "住民基本台帳法"]
    # 戸籍法 and 住民基本台帳法 govern a 行政書士's request for a register: 行政書士法 is not named by it.
    assert laws_not_held(catalogue.mentions("行政書士から戸籍謄本の職務上請求が来ました"), titles) == []
    assert laws_not_held(catalogue.mentions("非行政書士行為の疑いがある"), titles) == ["行政書士法"]


def test_a_tenants_local_rule_counts_as_held_only_where_its_collection_is_read(
    tmp_path: Path, segmenter: Segmenter
) -> None:
    store = KnowledgeStore(tmp_path)
    write_doc(store, koumuin(), segmenter)
    write_doc(store, seal_ordinance(), segmenter, collection="city-a")
    judge = StoreTopicJudge(store, TopicCatalogue.load(), segmenter=segmenter)
    question = "印鑑登録証をなくした人の再登録"
    terms, words = segmenter.terms(question), segmenter.boundaries(question)
    assert judge.assess(question, terms, words, ["laws"]).mentioned == (LOCAL_RULES,)
    assert judge.assess(question, terms, words, ["laws", "city-a"]).mentioned == ()
    assert judge.assess(question, terms, words).mentioned == ()  # every collection
    other_city = judge.assess(question, terms, words, ["laws", "city-b"])
    assert other_city.mentioned == (LOCAL_RULES,) and other_city.reads_as is not None


def test_a_topic_is_named_only_as_whole_words() -> None:
    catalogue = TopicCatalogue(
        [
            CatalogueEntry("道路法", ("市道", "がけ")),
            CatalogueEntry("鳥獣の保護及び管理並びに狩猟の適正化に関する法律", ("わな",)),
        ]
    )
    segmenter = Segmenter()
    question = "市道の穴で住民がけがをした。治療費を払わないと言われた"
    assert {m.topic for m in catalogue.mentions(question)} == {"市道", "がけ", "わな"}
    words = segmenter.boundaries(question)
    assert [m.topic for m in catalogue.mentions(question, words=words)] == ["市道"]
    trap = "イノシシのわなを仕掛けたい"
    assert [m.topic for m in catalogue.mentions(trap, words=segmenter.boundaries(trap))] == ["わな"]


def test_a_topic_does_not_begin_at_a_particle() -> None:
    catalogue = TopicCatalogue([CatalogueEntry("悪臭防止法", ("におい",))])
    segmenter = Segmenter()
    legal = "地方自治法において監査請求の期限は"  # に・おい・て
    assert catalogue.mentions(legal, words=segmenter.boundaries(legal)) == []
    smell = "ごみのにおいがひどい"
    assert [m.topic for m in catalogue.mentions(smell, words=segmenter.boundaries(smell))] == ["におい"]


def test_the_index_tells_a_foreign_law_from_a_held_one() -> None:
    index = CatalogueIndex(CATALOGUE, segmenter=Segmenter(), held_titles=["介護保険法"])
    segmenter = Segmenter()
    foreign, own = index.best(segmenter.query_terms("商店街が歩道にベンチを置きたいと言っている").terms)
    assert foreign is not None
    assert foreign[0] == "道路法"
    assert own == {}
    foreign, own = index.best(segmenter.query_terms("要介護認定の申請").terms)
    assert set(own) == {"介護保険法"}
    assert foreign is None


def test_the_shipped_catalogue_loads_and_a_broken_one_names_the_entry(tmp_path: Path) -> None:
    shipped = TopicCatalogue.load()
    assert len(shipped.entries) >= 150
    assert any(e.law == "地方税法" for e in shipped.entries)
    bad = tmp_path / "topics.yaml"
    bad.write_text("- law: 道路法\n  topics: [道路占用許可]\n- law: 河川法\n", encoding="utf-8")
    with pytest.raises(ParseError, match="entry 2: needs 'law'"):
        TopicCatalogue.load(bad)


def test_small_bm25_scores_like_okapi() -> None:
    bm25 = SmallBM25([["道路", "占用"], ["道路"], ["河川"]])
    scores = bm25.scores(["占用", "道路"])
    assert set(scores) == {0, 1}
    assert scores[0] > scores[1] > 0
    assert bm25.idf("占用") > bm25.idf("道路")
    assert bm25.scores(["存在しない"]) == {}
