"""Segmentation helpers: compound parts in a query, and word boundaries of a text."""

from __future__ import annotations

from itertools import pairwise

import pytest

from knowledge.tokenize import Segmenter, compound_parts, normalize, normalize_question


def test_compound_parts_are_the_terms_inside_a_longer_one() -> None:
    assert compound_parts(["有権者", "有権", "者", "字", "書く"]) == {"有権", "者"}
    assert compound_parts(["字"]) == frozenset()


def test_boundaries_cut_the_normalised_text_into_its_shortest_words() -> None:
    text = "ＮＰＯが学童保育を始めた"
    bounds = Segmenter().boundaries(text)
    cuts = sorted(bounds.starts | bounds.ends)
    words = [normalize(text)[a:b] for a, b in pairwise(cuts)]
    assert words[:4] == ["NPO", "が", "学童", "保育"]
    assert cuts[0] == 0 and cuts[-1] == len(normalize(text)) - 1  # 始め; the auxiliary た is no word
    assert bounds.whole(4, 6) and bounds.whole(4, 8) and not bounds.whole(3, 6)  # 学童, 学童保育; が学童


def test_no_word_begins_or_ends_at_a_particle() -> None:
    text = "地方自治法において"  # 地方自治法・に・おい・て
    bounds = Segmenter().boundaries(text)
    assert bounds.whole(0, 5)
    assert not bounds.whole(5, 8)  # 「におい」 is not a word of it
    assert Segmenter().query_terms(text).words == bounds


def test_a_question_keeps_its_question_words_apart_from_its_terms() -> None:
    found = Segmenter().query_terms("処分の取消訴訟はいつまで起こせる？")
    assert "いつ" not in found.terms and "訴訟" in found.terms
    assert "いつ" in found.asked
    assert set(found.terms) <= set(found.asked)


@pytest.mark.parametrize(
    "question", ["申請されたら出さないとだめ？", "使ってもダメ？", "使ってもOK？", "大丈夫？"]
)
def test_asking_whether_something_is_allowed_names_no_subject(question: str) -> None:
    found = Segmenter().query_terms(question)
    assert not {"駄目", "ok", "オーケー", "大丈夫"} & set(found.terms)


@pytest.mark.parametrize("question", ["生存権を定めた条文は？", "財産権の根拠は？"])
def test_asking_for_the_article_names_no_subject_but_the_right(question: str) -> None:
    found = Segmenter().query_terms(question)
    assert not {"条文", "根拠"} & set(found.terms)
    assert {"生存権", "財産権"} & set(found.terms)


def test_a_circled_number_after_an_article_is_its_paragraph() -> None:
    assert normalize_question("自治法２４２条の２①") == "自治法242条の2第1項"
    assert normalize_question("第三十八条⑳") == "第三十八条第20項"
    # elsewhere it is only NFKC: a list mark stays a number
    assert normalize_question("手順①申請") == normalize("手順①申請") == "手順1申請"
