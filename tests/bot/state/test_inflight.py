"""Questions in flight on SQLite and PostgreSQL: claimed once, dropped when done, resumed by one replica."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.state.db import Database, open_database
from bot.state.events import EventLedger
from bot.state.inflight import InFlight

T0 = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
PAYLOAD = {"event": {"type": "app_mention", "channel": "C1", "ts": "1700.1", "text": "第二条は？"}}


def test_a_question_is_claimed_once_and_dropped_when_done(db: Database) -> None:
    inflight = InFlight(db)
    assert inflight.claim("slack", "Ev1", PAYLOAD, now=T0)
    assert not inflight.claim("slack", "Ev1", PAYLOAD, now=T0)  # a retry of the event
    assert not EventLedger(db).claim("slack", "Ev1")  # the same ledger as every other claim
    assert inflight.claim("teams", "Ev1", PAYLOAD, now=T0)  # another platform's id space
    assert inflight.pending("slack") == 1
    inflight.done("slack", "Ev1")
    assert inflight.pending("slack") == 0
    assert inflight.take_interrupted("slack", now=T0 + timedelta(days=1)) == []
    assert not inflight.claim("slack", "Ev1", PAYLOAD, now=T0)  # done is not forgotten as claimed


def test_an_unfinished_question_is_taken_by_one_replica_after_stale_after(
    db: Database, state_url: str
) -> None:
    inflight = InFlight(db, stale_after=timedelta(minutes=5))
    inflight.claim("slack", "Ev1", PAYLOAD, now=T0)
    inflight.claim("slack", "Ev2", PAYLOAD, now=T0 + timedelta(minutes=1))
    inflight.claim("slack", "Ev3", PAYLOAD, now=T0)
    inflight.touch("slack", "Ev3", now=T0 + timedelta(minutes=4))  # a slow answer, still alive
    inflight.touch("slack", "Ev3", now=T0 + timedelta(minutes=8))
    other = InFlight(open_database(state_url), stale_after=timedelta(minutes=5))  # another replica
    try:
        assert inflight.take_interrupted("slack", now=T0 + timedelta(minutes=4)) == []  # still being answered
        [first] = inflight.take_interrupted("slack", now=T0 + timedelta(minutes=5, seconds=30))
        assert (first.event_id, first.attempts, first.payload, first.started) == ("Ev1", 1, PAYLOAD, T0)
        assert [e.event_id for e in other.take_interrupted("slack", now=T0 + timedelta(minutes=6))] == ["Ev2"]
        # Ev1 is leased to the first replica for another stale_after; then it is due again.
        assert other.take_interrupted("slack", now=T0 + timedelta(minutes=10)) == []
        [again] = other.take_interrupted("slack", now=T0 + timedelta(minutes=10, seconds=45))
        assert (again.event_id, again.attempts) == ("Ev1", 2)
        other.done("slack", "Ev1")
        assert inflight.pending("slack") == 2  # Ev2 (leased to the other replica) and Ev3 (still alive)
    finally:
        other.db.close()
