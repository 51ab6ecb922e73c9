from knowledge.evaluation import EvalItem, ItemOutcome, summarize


def outcome(kind: str, rank: int | None, sufficient: bool) -> ItemOutcome:
    gold = () if kind == "unanswerable" else ("doc:1",)
    return ItemOutcome(EvalItem(f"q{rank}{sufficient}", "質問", gold, kind), rank, sufficient, ["doc:1"], "")


def test_answers_are_split_by_whether_the_gold_article_came_first() -> None:
    """An answer citing another article first is a wrong citation, not a success: both are counted."""
    summary = summarize(
        [
            outcome("semantic", 1, True),  # answered, the right article first
            outcome("semantic", 2, True),  # answered, another article first
            outcome("semantic", None, True),  # answered, the right article nowhere
            outcome("semantic", 1, False),  # abstained although the right article came first
            outcome("unanswerable", None, False),
        ]
    )
    abstention = summary["abstention"]
    assert abstention["answerable_sufficient_rate"] == 0.75
    assert abstention["answered_right_first_rate"] == 0.25
    assert abstention["answered_other_first_rate"] == 0.5
    assert abstention["correctly_insufficient"] == 1


def test_no_answerable_question_gives_no_rates() -> None:
    abstention = summarize([outcome("unanswerable", None, True)])["abstention"]
    assert abstention["answered_right_first_rate"] is None
    assert abstention["answered_other_first_rate"] is None
