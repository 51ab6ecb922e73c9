"""What a question asks about, and the words that show it in an article (knowledge/aspects.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.aspects import DEFAULT_ASPECTS, Aspect, Aspects, load_aspects, shown
from knowledge.documents import ParseError
from knowledge.tokenize import Segmenter


@pytest.fixture(scope="module")
def shipped(segmenter: Segmenter) -> Aspects:
    return load_aspects(DEFAULT_ASPECTS, segmenter=segmenter)


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("転入届を出さずに放っておく人に罰則はある？", ["penalty"]),
        ("出生届はいつまでに出せばいい？", ["deadline"]),
        ("避難所の運営費用は誰が払うの？", ["cost"]),
        ("処分に不服があるときは？", ["appeal"]),
        ("期限を過ぎて払わない人に罰金は？", ["penalty", "deadline"]),
        ("自治会を法人にしたい", []),
    ],
)
def test_what_a_question_asks_about(shipped: Aspects, question: str, names: list[str]) -> None:
    assert [a.name for a in shipped.asked(question)] == names


def test_the_question_is_read_after_nfkc(shipped: Aspects) -> None:
    assert [a.name for a in shipped.asked("ﾍﾟﾅﾙﾃｨはある？")] == ["penalty"]


def test_statute_words_become_the_terms_the_index_holds(shipped: Aspects, segmenter: Segmenter) -> None:
    """Each statute word counts as its whole indexed term (拘禁刑, not 刑), in Sudachi's normal form."""
    penalty = next(a for a in shipped.entries if a.name == "penalty")
    assert "拘禁刑" in penalty.terms and "刑" not in penalty.terms
    article = frozenset(segmenter.terms("五万円以下の過料に処する"))
    assert shown((penalty,), article) == 1.0
    assert shown((penalty,), frozenset(segmenter.terms("転入をした者は届け出なければならない"))) == 0.0


def test_shown_is_the_share_of_the_asked_aspects() -> None:
    a = Aspect("a", ("x",), frozenset({"甲"}))
    b = Aspect("b", ("y",), frozenset({"乙"}))
    assert shown((a, b), frozenset({"甲", "丙"})) == 0.5
    assert shown((), frozenset({"甲"})) == 0.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("aspect: penalty\n", "is a list of entries"),
        ("- aspect: penalty\n  asks: [罰則]\n", "entry 1: needs exactly the keys"),
        ("- aspect: ''\n  asks: [罰則]\n  statute: [過料]\n", "entry 1: 'aspect' must be a name"),
        ("- aspect: penalty\n  asks: []\n  statute: [過料]\n", "entry 1: 'asks' must be a non-empty list"),
        ("- aspect: penalty\n  asks: [罰則]\n  statute: [過料, 3]\n", "'statute' must be a non-empty list"),
        ("- aspect: penalty\n  asks: [罰則]\n  statute: ['、']\n", "has no search term"),
        ("- aspect: [penalty\n", "cannot read aspects"),
    ],
)
def test_a_malformed_file_names_the_file_the_entry_and_the_field(
    tmp_path: Path, segmenter: Segmenter, content: str, message: str
) -> None:
    path = tmp_path / "aspects.yaml"
    path.write_text(content, "utf-8")
    with pytest.raises(ParseError) as caught:
        load_aspects(path, segmenter=segmenter)
    assert str(path) in str(caught.value) and message in str(caught.value)
