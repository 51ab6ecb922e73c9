"""The outbox on SQLite and PostgreSQL: queued once, taken by one replica at a time, in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.state.db import Database, open_database
from bot.state.outbox import Outbox

T0 = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
MESSAGES = [{"text": "回答です[1]。", "blocks": []}, {"text": "照会文案", "blocks": []}]


def test_an_answer_is_queued_once_and_taken_by_one_replica(db: Database, state_url: str) -> None:
    outbox = Outbox(db)
    assert outbox.add("slack", "Ev1", "C1", "1700.1", MESSAGES, now=T0)
    assert not outbox.add("slack", "Ev1", "C1", "1700.1", MESSAGES, now=T0)  # the same answer again
    assert outbox.add("slack", "Ev2", "C1", None, MESSAGES[:1], now=T0 + timedelta(seconds=1))
    other = Outbox(open_database(state_url))  # another replica on the same database
    try:
        taken = outbox.take_due("slack", now=T0 + timedelta(seconds=5))
        assert [(e.key, e.thread, e.attempts) for e in taken] == [("Ev1", "1700.1", 1), ("Ev2", None, 1)]
        assert taken[0].messages == MESSAGES
        assert other.take_due("slack", now=T0 + timedelta(seconds=6)) == []  # leased to the first one
        assert outbox.take_due("teams", now=T0 + timedelta(hours=1)) == []
        outbox.delivered(taken[0])
        # The second entry failed again after its first message: only the rest is kept, for later.
        assert outbox.retry_later(taken[1], [], now=T0 + timedelta(seconds=7))
        assert outbox.pending("slack") == 1
        assert other.take_due("slack", now=T0 + timedelta(seconds=20)) == []  # backoff: 30 s
        [again] = other.take_due("slack", now=T0 + timedelta(seconds=40))
        assert (again.key, again.attempts, again.messages) == ("Ev2", 2, [])
    finally:
        other.db.close()


def test_an_entry_is_abandoned_after_give_up_after(db: Database) -> None:
    outbox = Outbox(db, give_up_after=timedelta(hours=1))
    outbox.add("slack", "Ev1", "C1", None, MESSAGES, now=T0)
    [entry] = outbox.take_due("slack", now=T0 + timedelta(minutes=59))
    assert outbox.retry_later(entry, MESSAGES, now=T0 + timedelta(minutes=59))
    [entry] = outbox.take_due("slack", now=T0 + timedelta(minutes=61))
    assert not outbox.retry_later(entry, MESSAGES, now=T0 + timedelta(minutes=61))
    assert outbox.pending("slack") == 0
    assert outbox.take_due("slack", now=T0 + timedelta(days=1)) == []
