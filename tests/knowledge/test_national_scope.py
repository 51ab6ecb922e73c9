"""Laws that bind only national organs: a question about the asker's own municipality is not answered
from them (a city's disclosure requests are its 情報公開条例's), but by the article they give local bodies."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.documents import ParseError
from knowledge.law_topics import LOCAL_RULES
from knowledge.national_scope import answered_locally, load_scopes, packaged_scopes
from knowledge.search import Searcher

DISCLOSURE = "行政機関の保有する情報の公開に関する法律"


@pytest.mark.parametrize(
    "question",
    [
        "うちの市の情報公開請求って、開示決定の期限は請求から何日以内？",
        "市の公文書の開示請求があった。開示するかどうかの決定は何日以内にしないといけない？",
        "町に情報公開請求が来た。写しの交付の手数料はいくら取れる？",
        "本市の情報公開条例で、開示決定の期限を延長できるのは何日まで？",
    ],
)
def test_the_askers_own_municipality_is_answered_by_its_own_rules(question: str) -> None:
    assert answered_locally(question, DISCLOSURE, "10", packaged_scopes())


@pytest.mark.parametrize(
    ("question", "title", "article"),
    [
        ("国の出先機関に開示請求したのに決定が来ない。期限は何日？", DISCLOSURE, "10"),  # the national side
        ("うちの市の情報公開に情報公開法は直接適用される？", DISCLOSURE, "10"),  # asks about the law itself
        ("うちの市も情報公開の仕組みを作る義務がある？", DISCLOSURE, "25"),  # the article for local bodies
        ("開示請求の決定の期限は何日以内？", DISCLOSURE, "10"),  # no municipality named
        ("うちの市の職員の兼業の許可は？", "地方公務員法", "38"),  # a law that binds municipalities
    ],
)
def test_the_national_law_still_answers_otherwise(question: str, title: str, article: str) -> None:
    assert not answered_locally(question, title, article, packaged_scopes())


def test_a_malformed_file_is_named_with_its_entry(tmp_path: Path) -> None:
    path = tmp_path / "scopes.yaml"
    path.write_text("- law: 公文書等の管理に関する法律\n  local_articles: 34\n", encoding="utf-8")
    with pytest.raises(ParseError, match=r"scopes\.yaml: entry 1: 'local_articles'"):
        load_scopes(path)
    path.write_text("- law: 公文書等の管理に関する法律\n", encoding="utf-8")
    with pytest.raises(ParseError, match=r"entry 1: needs exactly the keys"):
        load_scopes(path)


def test_every_packaged_law_and_article_is_in_the_corpus(searcher: Searcher) -> None:
    for law in packaged_scopes().values():
        for article in law.local_articles:
            hits = searcher.search(f"{law.law}第{article}条", k=1).hits
            assert hits and (hits[0].title, hits[0].article) == (law.law, article)


def test_a_search_about_the_own_municipality_abstains_and_names_its_own_rules(searcher: Searcher) -> None:
    result = searcher.search("うちの市の情報公開請求って、開示決定の期限は請求から何日以内？", k=5)
    assert result.hits and result.hits[0].title == DISCLOSURE  # found, but not the basis
    assert not result.sufficient and result.absent_laws == (LOCAL_RULES,)
    assert "municipality's own rules" in result.reason
    national = searcher.search("国の出先機関に開示請求をした。開示決定の期限は請求から何日以内？", k=5)
    assert national.sufficient and national.hits[0].title == DISCLOSURE
