"""The article model: which article a question is about, learned from the phrasing and words lines."""

from __future__ import annotations

import math

import pytest

from knowledge.article_model import ArticleModel, digest, passes, train
from knowledge.law_model import FLOOR

# Neighbouring articles of one law share most of their words; what tells them apart is a few.
BIRTH_DEADLINE = [
    "出生の届出は十四日以内にしなければならない",
    "赤ちゃんが生まれたら出生届は何日以内？",
    "出生届の届出期間を過ぎたら",
    "出生届の期限はいつまで",
]
BIRTH_PLACE = [
    "出生の届出は出生地でもすることができる",
    "出生届はどこの役所に出せばいい？",
    "里帰り出産の出生届を生まれた町の役場に出せる？",
    "出生届の届出地",
]
DEATH_DEADLINE = [
    "死亡の届出は死亡の事実を知った日から七日以内",
    "死亡届は亡くなってから何日以内に出す？",
    "死亡届の届出期間",
    "死亡届の期限はいつまで",
]
EXAMPLES = (
    [("koseki:49", t) for t in BIRTH_DEADLINE]
    + [("koseki:51", t) for t in BIRTH_PLACE]
    + [("koseki:86", t) for t in DEATH_DEADLINE]
)
ARTICLES = ["koseki:49", "koseki:51", "koseki:86"]


@pytest.fixture(scope="module")
def model() -> ArticleModel:
    return train(EXAMPLES)


def best(model: ArticleModel, question: str) -> str:
    found = model.read(question).log_probabilities(ARTICLES)
    return ARTICLES[max(range(len(ARTICLES)), key=found.__getitem__)]


def test_neighbouring_articles_are_told_apart_by_the_words_that_differ(model: ArticleModel) -> None:
    assert best(model, "子どもが生まれた。出生届の期限は何日？") == "koseki:49"
    assert best(model, "出生届は生まれた病院のある市に出してもいい？") == "koseki:51"
    assert best(model, "父が亡くなった。死亡届は何日以内？") == "koseki:86"


def test_the_log_probabilities_are_a_distribution_and_an_unknown_article_gets_the_floor(
    model: ArticleModel,
) -> None:
    read = model.read("出生届の期限")
    assert sum(math.exp(p) for p in read.log_probabilities(ARTICLES)) == pytest.approx(1.0, abs=1e-4)
    assert read.log_probabilities(["koseki:999"]) == [math.log(FLOOR)]
    assert len(model.read("").log_probabilities(ARTICLES)) == 3  # no known n-gram: still an answer


def test_a_stored_model_answers_as_the_trained_one(model: ArticleModel) -> None:
    again = ArticleModel.from_bytes(model.to_bytes())
    question = "出生届はどこに出す？"
    assert again.read(question).log_probabilities(ARTICLES) == pytest.approx(
        model.read(question).log_probabilities(ARTICLES), abs=1e-3
    )
    assert again.digest == model.digest == digest(EXAMPLES)


def test_training_is_deterministic_and_the_digest_follows_the_lines() -> None:
    first, second = train(EXAMPLES), train(list(reversed(EXAMPLES)))
    assert first.digest == second.digest
    question = "出生届の期限"
    assert train(EXAMPLES).read(question).scores.tolist() == first.read(question).scores.tolist()
    assert digest([*EXAMPLES, ("koseki:49", "出生届の届出期間の計算")]) != first.digest


def test_few_lines_get_more_passes_than_many() -> None:
    assert passes(len(EXAMPLES)) > passes(24_000) >= 8


def test_examples_of_one_article_teach_nothing() -> None:
    with pytest.raises(ValueError, match="two articles"):
        train([("koseki:49", t) for t in BIRTH_DEADLINE])
