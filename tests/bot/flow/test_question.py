"""A question survives its trip through the in-flight table (JSON), without the raw platform event."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bot.flow.question import NO_TENANT, Question, QuestionPayloadError
from bot.models import ConversationRef, IncomingMessage
from manifest.scope import Scope


def question(scope: Scope | None) -> Question:
    ref = ConversationRef("logo", "yokosuka" if scope else NO_TENANT, "200", None, "12")
    message = IncomingMessage(ref=ref, user="501", text="行政財産の貸付けは？", mentions=("9001",),
                              raw={"content": "{@:9001,4}@回覧板 行政財産の貸付けは？"})
    return Question(key="12", message=message, scope=scope, context={"name": "山田 太郎"}, live=object())


@pytest.mark.parametrize("scope", [Scope("yokosuka", ("laws",)), Scope("local", None), None])
def test_a_question_in_flight_survives_its_json_round_trip(scope: Scope | None) -> None:
    original = question(scope)
    stored = json.loads(json.dumps(original.to_payload(), ensure_ascii=False))
    back = Question.from_payload("12", stored)
    assert back == replace(original, message=replace(original.message, raw={}))  # ``live`` does not count
    assert back.live is None and "raw" not in stored


def test_a_payload_it_cannot_read_is_refused_by_name() -> None:
    stored = question(Scope("yokosuka", ("laws",))).to_payload()
    del stored["scope"]
    with pytest.raises(QuestionPayloadError, match=r"question 12 in flight cannot be read: KeyError"):
        Question.from_payload("12", stored)
    with pytest.raises(QuestionPayloadError):
        Question.from_payload("12", {"activity": {}, "tenant": "a"})  # a payload of an older version
