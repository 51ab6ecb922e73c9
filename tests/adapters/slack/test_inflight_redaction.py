"""The question kept while it is answered holds no personal data (issue 16, item 8).

What is kept in flight is the neutral question (``bot.flow.question``), not the raw Slack event:
its text is redacted before it is stored, and the event's blocks are not kept at all."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import select

from bot.state.db import Database
from bot.state.inflight import InFlight
from bot.state.tables import questions_in_flight
from tests.adapters.slack.conftest import load_fixture
from tests.fakes.engines import HangingEngine

QUESTION = "<@U0KAIRAN> 住民の山田太郎様（1234.5678.9019、03.1234.5678）の住民票の写しは？"


async def test_the_event_in_flight_is_stored_redacted(make_adapter: Any, serve: Any, db: Database) -> None:
    hanging = HangingEngine()
    running = await serve(make_adapter(engine=hanging, inflight=InFlight(db), drain_timeout=0.1))
    payload = load_fixture("payload_app_mention.json")
    payload["event"]["text"] = QUESTION
    section = {"type": "rich_text_section", "elements": [
        {"type": "user", "user_id": "U0KAIRAN"}, {"type": "text", "text": QUESTION.split(">", 1)[1]},
    ]}
    payload["event"]["blocks"] = [{"type": "rich_text", "elements": [section]}]
    status, _, _ = await running.event(payload)
    assert status == 200
    await asyncio.wait_for(hanging.started.wait(), 30)
    with db.read() as conn:
        [stored] = conn.execute(select(questions_in_flight.c.payload)).scalars().all()
    for secret in ("山田", "1234.5678.9019", "5678.9019", "03.1234.5678", "1234.5678"):
        assert secret not in stored, secret
    question = json.loads(stored)
    assert question["text"] == "住民の［氏名］様(［個人番号］、［電話番号］)の住民票の写しは?"
    ref = question["ref"]
    assert (ref["channel"], ref["message"]) == (payload["event"]["channel"], payload["event"]["ts"])
    assert "blocks" not in stored
