"""The sources benchmark: how often an answer shows the gold article, and how many sources beside it."""

from __future__ import annotations

from benchmarks.answer_sources import Answered, rules, shown
from bot.answer_text import CLOSE_LIKELIHOOD, CLOSE_TO_BEST
from bot.models import Source


def source(n: int, article: str, score: float, p: float | None) -> Source:
    return Source(n, "laws/jichi", article, "地方自治法", article, "", "", "", score=score, likelihood=p)


BEST = source(1, "238_4", 40.0, 1.0)
# the gold second, close by score but under a tenth as probable as the best by the second stage
SECOND = Answered(frozenset({"laws/jichi:225"}), [BEST, source(2, "225", 35.0, 0.06)])
# the gold first and alone by either rule
FIRST = Answered(frozenset({"laws/jichi:238_4"}), [BEST, source(2, "225", 10.0, 0.01)])


def test_each_rule_counts_the_answers_showing_the_gold_and_the_sources_shown() -> None:
    by_score = shown([SECOND, FIRST], likelihood=None, score=0.75)
    assert by_score == {"gold_shown": 1.0, "sources_per_answer": 1.5, "one_source": 0.5, "answers": 2}
    by_stage = shown([SECOND, FIRST], likelihood=0.1, score=0.75)
    assert by_stage == {"gold_shown": 0.5, "sources_per_answer": 1.0, "one_source": 1.0, "answers": 2}
    assert shown([], likelihood=0.1, score=0.75)["gold_shown"] == 0.0


def test_the_shipped_thresholds_are_among_the_rules_and_marked() -> None:
    marked = [(label, p, share) for label, p, share in rules() if label.endswith(")")]
    assert marked == [
        (f"score ≥ {CLOSE_TO_BEST:g} × best (the fallback)", None, CLOSE_TO_BEST),
        (f"probability ≥ {CLOSE_LIKELIHOOD:g} × best (shipped)", CLOSE_LIKELIHOOD, CLOSE_TO_BEST),
    ]
