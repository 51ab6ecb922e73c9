from knowledge.sentences import split_closed


def test_a_mark_inside_brackets_ends_no_sentence() -> None:
    first, second = "庁舎（以下「庁舎等」という。）の管理は、長が行う。", "前項の規定は、この限りでない。"
    assert split_closed(f"{first}{second}ただし") == ([first, second], "ただし")


def test_marks_in_a_row_end_their_sentence_at_the_last() -> None:
    assert split_closed("本当？！ 教えて。\n", "。！？\n") == (["本当？！", "教えて。"], "")


def test_an_unclosed_bracket_keeps_the_rest_unfinished_and_empty_sentences_are_dropped() -> None:
    assert split_closed("前文。「続く。") == (["前文。"], "「続く。")
    assert split_closed("一行目\n \n", "。\n") == (["一行目"], "")
