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


def test_semantic_questions_are_measured_per_law_of_their_first_gold_article() -> None:
    def asked(kind: str, gold: tuple[str, ...], rank: int | None, titles: dict[str, str]) -> ItemOutcome:
        return ItemOutcome(EvalItem("q", "質問", gold, kind), rank, rank == 1, [], "", titles)

    hojin = {"laws/nta:hojin_01": "法人税基本通達", "laws/nta:hojin_02": "法人税基本通達"}
    by_law = summarize(
        [
            asked("semantic", ("jichi:238_4",), 1, {"jichi": "地方自治法"}),
            asked("semantic", ("koumuin:38", "jichi:1"), None, {"jichi": "地方自治法"}),
            asked("semantic", ("jichi:244",), 2, {}),
            asked("citation", ("koumuin:38",), 1, {"koumuin": "地方公務員法"}),  # cited: not a law's wording
            asked("unanswerable", (), None, {}),
            # a 基本通達 published one page per section: its items' doc ids differ, its title does not
            asked("semantic", ("laws/nta:hojin_01:1-1-1",), 1, hojin),
            asked("semantic", ("laws/nta:hojin_02:2-1-1",), 3, {}),
            asked("semantic", ("kouku:1",), None, {}),  # no hit of the law: named by its doc id
        ]
    )["by_law"]
    assert [(law["law"], law["doc_ids"], law["count"]) for law in by_law] == [
        ("地方自治法", ["jichi"], 2),
        ("法人税基本通達", ["laws/nta:hojin_01", "laws/nta:hojin_02"], 2),
        ("kouku", ["kouku"], 1),
        ("地方公務員法", ["koumuin"], 1),  # its title from a hit of another question
    ]
    jichi = by_law[0]
    assert (jichi["R@1"], jichi["R@5"], jichi["MRR"], jichi["sufficient_rate"]) == (0.5, 1.0, 0.75, 0.5)
    assert (by_law[3]["R@10"], by_law[3]["sufficient_rate"]) == (0.0, 0.0)
