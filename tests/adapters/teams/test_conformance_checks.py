"""The checks of ``make conformance`` (conformance/teams) can fail: fed what kairan must not send,
they say so. (The run itself starts the Microsoft 365 Agents Playground: ``make conformance``.)"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from adapters.teams import render
from bot.models import Answer, Citation, Usage
from conformance.teams.client import BOT, Playground
from conformance.teams.scenarios import (
    Q_PRINCIPLE,
    Checks,
    check_cited_answer,
    check_everything,
    llm_answer,
)

LAW = "https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4"


def good_answer() -> dict[str, Any]:
    title = "地方自治法 第二百三十八条の四"
    citation = Citation(1, "322AC0000000067", "238_4", title, LAW, Q_PRINCIPLE, True)
    answer = Answer(
        text="原則として貸し付けることはできません[1]。",
        citations=(citation,),
        abstained=False,
        usage=Usage("openai_compatible", "fake"),
        audit_id="a1",
    )
    return render.answer_activity(answer)


def failures(activity: dict[str, Any]) -> list[str]:
    checks = Checks()
    check_cited_answer(checks, activity, "answer")
    return checks.failed


def test_a_cited_answer_passes() -> None:
    assert failures(good_answer()) == []


@pytest.mark.parametrize(
    ("spoil", "failed"),
    [
        (lambda a: a.pop("entities"), "citations"),
        (lambda a: a.update(text="原則として貸し付けることはできません。"), "[n] is in the text"),
        (lambda a: a["entities"][0]["citation"][0].update(position=2), "[n] is in the text"),
        (lambda a: a["entities"][0]["citation"][0]["appearance"].update(url="https://x.jp"), "deep link"),
        (lambda a: a["entities"][0].pop("additionalType"), "AI label"),
        (lambda a: a.pop("channelData"), "feedback buttons"),
    ],
)
def test_a_flawed_answer_fails_the_check_that_looks_for_it(spoil: Any, failed: str) -> None:
    activity = copy.deepcopy(good_answer())
    spoil(activity)
    found = failures(activity)
    assert found and any(failed in f for f in found), found


async def test_a_refused_or_null_carrying_activity_fails_the_exchange_checks() -> None:
    pg = Playground("http://127.0.0.1:9", None)  # type: ignore[arg-type]  # no request is made
    record = {
        "from": BOT, "activityName": "message", "conversationId": "c", "request": {"body": {"id": None}},
        "response": {"statusCode": 400, "body": {"error": {"code": "BadArgument"}}},
    }
    pg._log({"logAction": "appendLog", "log": record})
    checks = Checks()
    check_everything(pg, checks)
    assert [f.split(":")[0] for f in checks.failed] == [
        "the Playground refused nothing kairan sent",
        "no activity kairan sent carries a null",
    ]


def test_the_fake_llm_cites_the_source_that_holds_the_quote() -> None:
    user = f'<source n="1" title="x">無関係</source>\n<source n="3" title="y">…{Q_PRINCIPLE}…</source>'
    answer = llm_answer({"messages": [{"role": "user", "content": user}]})
    assert "[3]" in answer and "[1]" not in answer
    assert llm_answer({"messages": [{"role": "user", "content": "<question>\n質問\n</question>"}]}) == "質問"
    nothing = llm_answer({"messages": [{"role": "user", "content": '<source n="1" t="x">無関係</source>'}]})
    assert nothing.startswith("根拠となる資料が見つかりませんでした")
