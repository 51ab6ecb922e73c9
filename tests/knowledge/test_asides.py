"""The sentences of a chat message that say nothing of its question (pure parts)."""

from knowledge.asides import asking, sentences, without_asides, without_sentences


def test_sentences_end_at_marks_and_line_breaks_outside_brackets() -> None:
    text = "住民の方から「これって本当？」と聞かれた。\n返事に困っています。許可は要る？！根拠は?"
    assert sentences(text) == [
        "住民の方から「これって本当？」と聞かれた。",
        "返事に困っています。",
        "許可は要る？！",
        "根拠は?",
    ]
    assert sentences("今年度異動してきたばかりで、\n副業の許可は要る？") == [
        "今年度異動してきたばかりで、",
        "副業の許可は要る？",
    ]
    assert sentences("") == [] and sentences("　\n") == []


def test_the_sentences_that_ask_are_those_with_a_question_mark_or_else_the_last() -> None:
    assert asking(["忙しい。", "許可は要る？", "上司に聞かれたので。"]) == {1}
    assert asking(["忙しい。", "許可の要否を知りたい。"]) == {1}
    assert asking([]) == frozenset()


def test_asides_are_set_aside_but_never_a_sentence_that_asks() -> None:
    text = "今日は窓口が混んでいた。\n副業の許可は要る？\n上司に聞かれたので確認したいです。"
    kept, asides = without_asides(text, lambda s: "副業" not in s)
    assert kept == "副業の許可は要る？"
    assert asides == ("今日は窓口が混んでいた。", "上司に聞かれたので確認したいです。")
    # nothing to set aside, or a single sentence: the text as it was
    assert without_asides(text, lambda s: False) == (text, ())
    assert without_asides("副業の許可は要る？", lambda s: True) == ("副業の許可は要る？", ())


def test_the_question_as_written_loses_the_asides_found_in_its_normalised_form() -> None:
    written = "今日は窓口が混んでいました！\n職員の副業に許可は要りますか？"  # full-width marks
    assert without_sentences(written, ("今日は窓口が混んでいました!",)) == "職員の副業に許可は要りますか？"
    assert without_sentences(written, ()) == written
    assert without_sentences(written, ("ほかの文。",)) == written
