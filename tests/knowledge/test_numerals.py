import pytest

from knowledge.numerals import (
    article_title_to_num,
    int_to_kanji,
    kanji_to_int,
    num_to_article_title,
    parse_number,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("一", 1),
        ("十", 10),
        ("十一", 11),
        ("二十", 20),
        ("百", 100),
        ("二百三十八", 238),
        ("千五", 1005),
        ("一万二千", 12000),
        ("一〇五", 105),
        ("三百", 300),
    ],
)
def test_kanji_to_int(text: str, value: int) -> None:
    assert kanji_to_int(text) == value


@pytest.mark.parametrize("value", [1, 9, 10, 11, 19, 20, 99, 100, 101, 238, 999, 1000, 1234, 10000, 12345])
def test_int_to_kanji_round_trip(value: int) -> None:
    assert kanji_to_int(int_to_kanji(value)) == value


def test_parse_number_accepts_every_script() -> None:
    assert parse_number("２３８") == parse_number("238") == parse_number("二百三十八") == 238


@pytest.mark.parametrize(
    ("title", "num"),
    [
        ("第二百三十八条の四", "238_4"),
        ("第一条", "1"),
        ("第百六十七条の二", "167_2"),
        ("第十条の二の三", "10_2_3"),
        ("第１６７条の２", "167_2"),
        ("第38条", "38"),
    ],
)
def test_article_title_to_num(title: str, num: str) -> None:
    assert article_title_to_num(title) == num


def test_num_to_article_title_round_trip() -> None:
    for num in ("238_4", "1", "10_2_3", "244_2"):
        assert article_title_to_num(num_to_article_title(num)) == num
    assert num_to_article_title("238_4") == "第二百三十八条の四"


@pytest.mark.parametrize("bad", ["第条", "二百三十八条", "附則第一条", "第一項", ""])
def test_article_title_rejects_non_titles(bad: str) -> None:
    with pytest.raises(ValueError):
        article_title_to_num(bad)


def test_kanji_to_int_rejects_other_characters() -> None:
    with pytest.raises(ValueError):
        kanji_to_int("二百条")
