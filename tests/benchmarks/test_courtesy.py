"""The wrapping benchmark: each wrapping asks the question it was given, in the place its writer put it."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.courtesy import (
    FRAME_POSITIONS,
    PLACE,
    WRAPPINGS,
    WRITTEN_APART,
    asked,
    chat_frames,
    wrappings,
)
from knowledge.evaluation import EvalItem

QUESTION = EvalItem("q1", "職員が副業をしてもいいの？", ("laws/chiko:38",), "semantic")
CITATION = EvalItem("q2", "地方公務員法38条", ("laws/chiko:38",), "citation")


def test_the_shipped_frames_hold_thirty_of_each_position_per_writer_with_one_place_each() -> None:
    frames = chat_frames()
    assert {position: len(texts) for position, texts in frames.items()} == dict.fromkeys(FRAME_POSITIONS, 90)
    assert all(text.count(PLACE) == 1 for texts in frames.values() for text in texts)


def test_a_frame_without_its_place_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "frames.jsonl"
    path.write_text(
        '{"position": "before", "text": "窓口で聞かれました。{Q}"}\n'
        '{"position": "after", "text": "急ぎです。"}\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"frames\.jsonl:2: a frame needs"):
        chat_frames(path)
    path.write_text('{"position": "before", "text": "窓口で聞かれました。{Q}"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"frames\.jsonl:1: not a JSON object"):
        chat_frames(path)


def test_each_wrapping_asks_the_question_in_its_place_and_citations_as_written() -> None:
    frames = {
        "before": ["課長から聞かれました。{Q}"],
        "after": ["{Q}急ぎです。"],
        "reported": ["「{Q}」と電話。", "相談内容：{Q}"],
    }
    wraps = wrappings([("今日は窓口が混んでいます。", "")], frames)
    assert list(wraps) == [*WRAPPINGS, WRITTEN_APART, "frames before", "frames after", "frames reported"]
    assert asked([QUESTION, CITATION], wraps["greeting"])[0].question == (
        "お疲れ様です。\n職員が副業をしてもいいの？\nよろしくお願いします。"
    )
    apart = asked([QUESTION], wraps[WRITTEN_APART])[0]
    assert apart.question == "今日は窓口が混んでいます。\n職員が副業をしてもいいの？"
    reported = asked([QUESTION, QUESTION, CITATION], wraps["frames reported"])
    assert [item.question for item in reported] == [
        "「職員が副業をしてもいいの？」と電話。",
        "相談内容：職員が副業をしてもいいの？",
        "地方公務員法38条",
    ]
    assert reported[0].gold == QUESTION.gold
