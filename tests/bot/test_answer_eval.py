"""Scoring the engine's answers per kind of question (bot.answer_eval): pure, on hand-made answers."""

from __future__ import annotations

from bot.answer_eval import outcome, score
from bot.answer_text import FALLBACK_NOTICE, READ_BY_LLM_NOTICE
from bot.models import Answer, Citation
from knowledge.evaluation import EvalItem

GOLD = "322AC0000000067:238_4"
OTHER = "322CO0000000016:169_3"


def cited(*keys: str, warnings: tuple[str, ...] = ()) -> Answer:
    citations = tuple(
        Citation(n=n, doc_id=doc_id, article=article, title="", url="", quote="", verified=True)
        for n, (doc_id, article) in enumerate((key.split(":") for key in keys), start=1)
    )
    return Answer(text="…", citations=citations, abstained=False, warnings=warnings)


ABSTAINED = Answer(text="根拠となる資料が見つかりませんでした。", citations=(), abstained=True)


def item(n: int, kind: str = "semantic", gold: tuple[str, ...] = (GOLD,)) -> EvalItem:
    return EvalItem(id=f"q{n}", question=f"質問{n}", gold=gold if kind != "unanswerable" else (), kind=kind)


def test_an_answer_is_right_when_it_cites_the_gold_article_or_abstains_on_an_unanswerable_question() -> None:
    assert outcome(item(1), cited(GOLD)).right
    assert outcome(item(2), cited(OTHER, GOLD)).right  # cited, though not first
    assert not outcome(item(3), cited(OTHER)).right  # answered with the wrong article
    assert not outcome(item(4), ABSTAINED).right  # "no basis found" for an answerable question
    assert outcome(item(5, "unanswerable"), ABSTAINED).right
    assert not outcome(item(6, "unanswerable"), cited(OTHER)).right


def test_score_counts_per_kind_the_near_misses_the_llm_answered_and_its_failures() -> None:
    outcomes = [
        outcome(item(1), cited(GOLD)),
        outcome(item(2), cited(OTHER, GOLD, warnings=(READ_BY_LLM_NOTICE,))),
        outcome(item(3), cited(OTHER, warnings=(READ_BY_LLM_NOTICE,))),
        outcome(item(4), ABSTAINED),
        outcome(item(5, "citation"), cited(GOLD, warnings=(FALLBACK_NOTICE,))),
        outcome(item(6, "unanswerable"), ABSTAINED),
        outcome(item(7, "unanswerable"), cited(OTHER, warnings=(READ_BY_LLM_NOTICE,))),
    ]
    summary = score(outcomes)

    assert summary["by_kind"]["semantic"] == {
        "count": 4, "answered": 3, "answered_rate": 0.75, "near_miss_answered": 2,
        "gold_first": 1, "gold_cited": 2, "gold_cited_rate": 0.5, "near_miss_gold_cited": 1,
    }
    assert summary["by_kind"]["citation"]["gold_first"] == 1
    assert summary["by_kind"]["unanswerable"] == {
        "count": 2, "answered": 1, "answered_rate": 0.5, "near_miss_answered": 1,
    }
    assert summary["llm_failures"] == 1
    assert [(m["id"], m["answered"], m["first"]) for m in summary["misses"]] == [
        ("q3", True, OTHER), ("q4", False, None), ("q7", True, OTHER),
    ]
