"""No listed My Number or phone variant reaches the LLM or the state database (issue 16, item 8).

Redaction happens before anything is persisted: the question in flight (the raw platform event),
thread turns, the audit log and feedback comments are all redacted by the stores that write them.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from sqlalchemy import select

from bot.engine import AnswerEngine, EngineSettings
from bot.models import ConversationRef, IncomingMessage
from bot.state.audit import AuditEntry, AuditLog
from bot.state.db import Database
from bot.state.feedback import FeedbackStore
from bot.state.inflight import InFlight
from bot.state.tables import metadata
from bot.state.threads import ThreadStore
from knowledge.search import Searcher
from tests.bot.test_redaction_variants import MYNUMBERS, PHONES
from tests.fakes.engines import ScriptedProvider

CAFE = "行政財産である庁舎の空きスペースを民間のカフェに貸すことはできますか？"
FAITHFUL = "行政財産は、原則として「これを貸し付け、交換し、売り払い、譲与し」などができません[1]。"
# Every variant holds one of these runs of digits (kanji digits read as digits).
SECRET_DIGITS = ("12345678901", "12345678")
NOT_TEXT = {"id", "hash", "prev_hash", "user_hash", "audit_id", "event_id", "key", "seq"}
KANJI = str.maketrans("〇○一二三四五六七八九", "00123456789")


def digit_runs(text: str) -> str:
    return re.sub(r"[^0-9]", "", unicodedata.normalize("NFKC", text).translate(KANJI))


def holds_secret(text: str) -> bool:
    """Whether a line of ``text`` holds a variant's digits once its separators are gone (line by line: a
    variant is written on one line, and the items 一 … 八 of a quoted article joined up are not one)."""
    return any(secret in digit_runs(line) for line in text.splitlines() for secret in SECRET_DIGITS)


def leaked(db: Database) -> list[tuple[str, str, str]]:
    """(table, column, value) of every stored text that still holds a variant's digits."""
    found = []
    with db.read() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                for column, value in row.items():
                    if column in NOT_TEXT or not isinstance(value, str):
                        continue
                    if holds_secret(value):
                        found.append((table.name, column, value))
    return found


def message(text: str, n: int) -> IncomingMessage:
    ref = ConversationRef(platform="slack", tenant="t", channel="C1", thread="1.0", message=f"{n}.5")
    return IncomingMessage(ref=ref, user="U042", text=text)


@pytest.mark.parametrize("variants", [MYNUMBERS, PHONES], ids=["mynumber", "phone"])
async def test_no_variant_reaches_the_llm_or_the_state_database(
    searcher: Searcher, db: Database, variants: list[str]
) -> None:
    provider = ScriptedProvider(FAITHFUL)
    engine = AnswerEngine(
        searcher=searcher, provider=provider, threads=ThreadStore(db), audit=AuditLog(db, salt="s"),
        settings=EngineSettings(rewrite=True, rewrite_below_coverage=1.01),
    )
    inflight = InFlight(db)
    for n, variant in enumerate(variants):
        text = f"住民（{variant}）から相談です。{CAFE}"
        inflight.claim("slack", f"Ev{n:04d}", {"event": {"text": text, "ts": f"{n}.5"}})
        await engine.answer(message(text, n))  # the same thread: later questions see earlier turns
    sent = "\n".join(
        f"{prompt.system_fixed}\n{prompt.system_context}\n" + "\n".join(t.text for t in prompt.messages)
        for prompt in provider.prompts
    )
    assert len(provider.prompts) >= len(variants)
    assert not holds_secret(sent)
    assert leaked(db) == []


def test_the_stores_redact_what_they_are_given(db: Database) -> None:
    """Each store redacts before writing, whatever its caller did (defence in depth)."""
    raw = "山田太郎様 1234.5678.9019 03.1234.5678 から"
    ThreadStore(db).append("slack:t:C1:1.0", "user", raw)
    log = AuditLog(db, salt="s")
    record = log.append(AuditEntry(tenant="t", channel="C1", user_hash="h", question=raw, answer=raw))
    FeedbackStore(db).record(record.id, "h", "not_helpful", comment=raw)
    InFlight(db).claim("slack", "Ev1", {"event": {"text": raw, "blocks": [{"text": raw}]}})
    assert leaked(db) == []
    assert log.verify().ok  # the chain hashes what was stored
    assert record.question == "［氏名］様 ［個人番号］ ［電話番号］ から"
    [turn] = ThreadStore(db).recent("slack:t:C1:1.0")
    assert turn.text == record.question


def test_the_question_in_flight_keeps_what_is_needed_to_answer_it_again(db: Database) -> None:
    inflight = InFlight(db)
    payload = {"body": {"event_id": "Ev7"}, "event": {"text": "<@U0KAIRAN> 090.1234.5678の方", "ts": "7.5",
                                                       "channel": "C0SOUMU001", "user": "U0STAFF001"}}
    inflight.claim("slack", "Ev7", payload)
    (entry,) = inflight.take_interrupted("slack", now=_later())
    event = entry.payload["event"]
    assert event["text"] == "<@U0KAIRAN> ［電話番号］の方"
    assert (event["ts"], event["channel"], event["user"]) == ("7.5", "C0SOUMU001", "U0STAFF001")
    assert entry.payload["body"] == {"event_id": "Ev7"}


def _later():  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from bot.state.db import utc_now

    return utc_now() + timedelta(hours=1)
