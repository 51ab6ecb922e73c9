"""The catalogue audit: topics only absent laws are given, that a held law's articles are about too."""

from __future__ import annotations

from benchmarks.catalogue_audit import Finding, audit
from knowledge.law_topics import CatalogueEntry, TopicCatalogue

CATALOGUE = TopicCatalogue(
    [
        CatalogueEntry("地方自治法施行令", ("随意契約",)),
        CatalogueEntry("公共工事の品質確保の促進に関する法律", ("最低制限価格", "ダンピング", "低入札")),
        CatalogueEntry("公職選挙法", ("投票所",)),
        CatalogueEntry("社会教育法", ("公民館",)),
    ]
)
ARTICLES = {
    "地方自治法施行令": [
        ("予定価格の制限の範囲内で最低制限価格を設けて", "最低制限価格 入札の下限"),
        ("随意契約によることができる場合", "随意契約の上限"),
    ],
    "公職選挙法": [("投票所は公民館その他の施設に設ける", "投票所の場所")],
}


def test_a_topic_a_held_article_is_about_is_found_with_its_uses() -> None:
    assert audit(CATALOGUE, ARTICLES) == [
        Finding("最低制限価格", "公共工事の品質確保の促進に関する法律", {"地方自治法施行令": 1})
    ]


def test_a_passing_mention_counts_only_when_asked_for_the_text_alone() -> None:
    text_only = {law: [(text, "") for text, _ in rows] for law, rows in ARTICLES.items()}
    found = {f.topic for f in audit(CATALOGUE, text_only)}
    assert found == {"最低制限価格", "公民館"}


def test_short_topics_and_topics_a_held_law_is_given_are_skipped() -> None:
    assert audit(CATALOGUE, ARTICLES, min_length=7) == []
    held_too = TopicCatalogue([*CATALOGUE.entries, CatalogueEntry("地方自治法施行令", ("最低制限価格",))])
    assert audit(held_too, ARTICLES) == []
