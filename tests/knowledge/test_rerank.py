"""The second-stage ranking over first-stage candidates (pure)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from knowledge.article_model import train
from knowledge.aspects import Aspect
from knowledge.coverage import Coverage
from knowledge.glossary import Expansion
from knowledge.rerank import FEATURES, Candidates, Question, features, reorder
from knowledge.settings import RerankWeights

IDF = {"住民": 1.0, "監査": 3.0, "請求": 2.0, "期間": 2.0, "監査委員": 3.0}
TERMS = ["住民", "監査", "請求", "期間"]
QUESTION = Question(
    coverage=Coverage(TERMS, [], lambda term: IDF.get(term, 1.0)),
    law_scores={"jichi": 12.0, "other": 3.0},
    named_laws=frozenset({"jichi"}),
)


def candidates(*each: dict[str, Any]) -> Candidates:
    """Candidates from one dict per article (doc_id and score given, the rest defaulted)."""
    rows = [
        {"phrase": 0.0, "lines": 0, "body_rank": 0, "phrase_rank": None, "described": frozenset(),
         "field_terms": frozenset(), **one}
        for one in each
    ]
    return Candidates(
        doc_ids=[r["doc_id"] for r in rows],
        articles=[f"{r['doc_id']}:{r.get('article', n)}" for n, r in enumerate(rows)],
        scores=[r["score"] for r in rows],
        phrases=[r["phrase"] for r in rows], lines=[r["lines"] for r in rows],
        body_ranks=[r["body_rank"] for r in rows], phrase_ranks=[r["phrase_rank"] for r in rows],
        described=[r["described"] for r in rows], field_terms=[r["field_terms"] for r in rows],
    )


def inputs(found: Candidates, question: Question = QUESTION) -> list[dict[str, float]]:
    return [dict(zip(FEATURES, row, strict=True)) for row in features(found, question)]


def test_each_candidate_has_one_input_per_weight() -> None:
    [row] = features(candidates({"doc_id": "jichi", "score": 10.0}), QUESTION)
    assert len(row) == len(FEATURES)


def test_an_article_that_answers_the_whole_question_outranks_one_that_repeats_one_word() -> None:
    found = reorder(
        candidates(
            {"doc_id": "other", "score": 30.0, "described": frozenset({"住民"})},
            {"doc_id": "jichi", "score": 18.0, "described": frozenset({"住民", "監査", "請求", "期間"}),
             "body_rank": 3, "lines": 2},
        ),
        QUESTION,
        RerankWeights(),
    )
    assert found.order == [1, 0]
    assert 0.5 < found.confidence < 1.0


def test_coverage_counts_the_question_terms_by_idf_directly_or_through_statute_wording() -> None:
    statute = Expansion(trigger="監査", trigger_terms=("監査",), terms=("監査委員",))
    plain, through = inputs(
        candidates(
            {"doc_id": "jichi", "score": 10.0, "described": frozenset({"住民", "請求"})},
            {"doc_id": "jichi", "score": 10.0, "described": frozenset({"住民", "請求", "監査委員"})},
        ),
        replace(QUESTION, coverage=Coverage(TERMS, [statute], lambda term: IDF.get(term, 1.0))),
    )
    assert plain["coverage"] == pytest.approx(3.0 / 8.0)  # 住民 1 + 請求 2 of 8
    assert through["coverage"] == pytest.approx(6.0 / 8.0)  # … + 監査 through 監査委員


def test_the_law_the_catalogue_prefers_and_the_question_names_counts() -> None:
    held, other = inputs(candidates({"doc_id": "jichi", "score": 10.0}, {"doc_id": "other", "score": 10.0}))
    assert (held["law"], held["named"]) == (1.0, 1.0)
    assert (other["law"], other["named"]) == (0.25, 0.0)
    assert held["law_share"] == other["law_share"] == 0.5


def test_ranks_and_lines_enter_as_reciprocals_and_logs() -> None:
    [first, unseen] = inputs(candidates(
        {"doc_id": "jichi", "score": 10.0, "body_rank": 0, "phrase_rank": 1, "lines": 3},
        {"doc_id": "jichi", "score": 5.0, "body_rank": None, "phrase_rank": None},
    ))
    assert (first["body_rank"], first["phrase_rank"], first["relative"]) == (1.0, 0.5, 1.0)
    assert first["matched_lines"] == pytest.approx(math.log(4))
    assert (unseen["body_rank"], unseen["phrase_rank"], unseen["relative"]) == (0.0, 0.0, 0.5)


def test_an_article_showing_what_the_question_asks_about_is_lifted_over_its_neighbour() -> None:
    """「転入届を出さないと罰則は？」: the article setting the 過料 outranks the 転入届 article beside it."""
    penalty = Aspect("penalty", ("罰則",), frozenset({"過料", "罰金"}))
    deadline = Aspect("deadline", ("いつまで",), frozenset({"以内", "期間"}))
    asking = replace(QUESTION, aspects=(penalty, deadline))
    words = frozenset({"住民", "監査", "請求"})
    neighbours = candidates(
        {"doc_id": "jichi", "score": 10.0, "described": words | {"届け出"}},
        {"doc_id": "jichi", "score": 10.0, "described": words | {"過料"}},
    )
    filing, fine = inputs(neighbours, asking)
    assert (filing["aspect"], fine["aspect"]) == (0.0, 0.5)  # one of the two aspects asked
    [unasked] = inputs(candidates({"doc_id": "jichi", "score": 10.0, "described": words | {"過料"}}))
    assert unasked["aspect"] == 0.0  # a question that asks about no aspect lifts nothing
    assert reorder(neighbours, asking, RerankWeights()).order == [1, 0]


def test_equal_candidates_keep_the_first_stage_order_and_share_the_confidence() -> None:
    one = {"doc_id": "jichi", "score": 10.0, "described": frozenset({"住民"})}
    same = candidates(*(one for _ in range(4)))
    found = reorder(same, QUESTION, RerankWeights())
    assert found.order == [0, 1, 2, 3]
    assert found.confidence == pytest.approx(0.25)


def test_nothing_to_reorder() -> None:
    found = reorder(candidates(), QUESTION, RerankWeights())
    assert (found.order, found.confidence) == ([], 0.0)


def test_the_article_model_tips_two_neighbours_of_one_law_to_the_article_asked_about() -> None:
    neighbours = candidates(
        {"doc_id": "koseki", "article": "51", "score": 20.0},
        {"doc_id": "koseki", "article": "49", "score": 20.0},
    )
    assert [row["learned_article"] for row in inputs(neighbours)] == [0.0, 0.0]  # without a model
    model = train([("koseki:49", "出生届の期限は何日以内"), ("koseki:49", "出生届の届出期間"),
                   ("koseki:51", "出生届を出す場所"), ("koseki:51", "出生届はどこに出す")])
    read = model.read("出生届の期限")
    asked = replace(QUESTION, law_scores={}, named_laws=frozenset(), learned_articles=read)
    learned = [row["learned_article"] for row in inputs(neighbours, asked)]
    assert learned[1] > learned[0]
    assert reorder(neighbours, asked, RerankWeights()).order == [1, 0]
