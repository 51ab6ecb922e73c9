from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.models import ConversationRef
from bot.state.audit import AuditEntry, AuditLog
from bot.state.db import Database, StateError, default_database_url, open_database
from bot.state.events import EventLedger
from bot.state.feedback import FeedbackRecord, FeedbackStore, UnknownAuditRecord
from bot.state.threads import ChatTurn, ThreadStore
from manifest.loader import ManifestError, load_manifest_text

KEY = ConversationRef(platform="slack", tenant="yokosuka", channel="C1", thread="1700.1").thread_key


def test_thread_recent_is_bounded_by_turns_and_chars(db: Database) -> None:
    store = ThreadStore(db)
    for i in range(10):
        store.append(KEY, "user" if i % 2 == 0 else "assistant", f"発言{i}")
    store.append("slack:other:C2:1", "user", "別スレッド")
    recent = store.recent(KEY, max_turns=4)
    assert recent == [ChatTurn("user", "発言6"), ChatTurn("assistant", "発言7"),
                      ChatTurn("user", "発言8"), ChatTurn("assistant", "発言9")]
    assert [t.text for t in store.recent(KEY, max_turns=6, max_chars=9)] == ["発言7", "発言8", "発言9"]
    assert store.recent(KEY, max_turns=0) == []
    assert store.recent("slack:none:C9:1") == []


def test_thread_recent_truncates_an_overlong_newest_turn(db: Database) -> None:
    store = ThreadStore(db)
    store.append(KEY, "user", "短い質問")
    store.append(KEY, "assistant", "あ" * 50 + "おわり")
    assert store.recent(KEY, max_chars=10) == [ChatTurn("assistant", "…" + "あ" * 6 + "おわり")]


def test_thread_rejects_bad_role(db: Database) -> None:
    with pytest.raises(ValueError, match="role must be one of"):
        ThreadStore(db).append(KEY, "system", "x")  # type: ignore[arg-type]


def test_thread_forget_before(db: Database) -> None:
    store = ThreadStore(db)
    store.append(KEY, "user", "古い", time=datetime(2025, 1, 1, tzinfo=UTC))
    store.append(KEY, "user", "新しい", time=datetime(2025, 3, 1, tzinfo=UTC))
    assert store.forget_before(datetime(2025, 2, 1, tzinfo=UTC)) == 1
    assert store.recent(KEY) == [ChatTurn("user", "新しい")]


def test_feedback_refers_to_an_existing_audit_record(db: Database) -> None:
    log = AuditLog(db, salt="s")
    record = log.append(AuditEntry(tenant="t", channel="c", user_hash=log.hash_user("U1"), question="q",
                                   answer="a"))
    store = FeedbackStore(db)
    when = datetime(2025, 5, 1, tzinfo=UTC)
    first = store.record(record.id, "h1", "helpful", time=when)
    assert first == FeedbackRecord(record.id, "h1", "helpful", None, "2025-05-01T00:00:00.000000Z")
    store.record(record.id, "h2", "not_helpful", "条文が古い", time=when)
    store.record(record.id, "h1", "not_helpful", "やっぱり違う", time=when)  # a user's vote is replaced
    assert [(f.user_hash, f.value, f.comment) for f in store.for_answer(record.id)] == [
        ("h1", "not_helpful", "やっぱり違う"), ("h2", "not_helpful", "条文が古い")]
    assert store.counts() == {"helpful": 0, "not_helpful": 2}
    with pytest.raises(UnknownAuditRecord, match="no audit record with id 'nope'"):
        store.record("nope", "h1", "helpful")
    with pytest.raises(ValueError, match="feedback value must be one of"):
        store.record(record.id, "h1", "meh")  # type: ignore[arg-type]


def test_event_ledger_claims_once_across_reopen(state_url: str) -> None:
    url = state_url
    with open_database(url) as db:
        ledger = EventLedger(db)
        assert ledger.claim("slack", "Ev01") is True
        assert ledger.claim("slack", "Ev01") is False
        assert ledger.claim("teams", "Ev01") is True  # ids are per platform
    with open_database(url) as db:
        ledger = EventLedger(db)
        assert ledger.claim("slack", "Ev01") is False
        assert ledger.claim("slack", "Ev02") is True
        with pytest.raises(ValueError, match="must not be empty"):
            ledger.claim("slack", "")


def test_event_ledger_forget_before(db: Database) -> None:
    ledger = EventLedger(db)
    assert ledger.claim("slack", "old", time=datetime(2025, 1, 1, tzinfo=UTC))
    assert ledger.claim("slack", "new", time=datetime(2025, 3, 1, tzinfo=UTC))
    assert ledger.forget_before(datetime(2025, 2, 1, tzinfo=UTC)) == 1
    assert ledger.claim("slack", "old") is True
    assert ledger.claim("slack", "new") is False


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    db_path = tmp_path / "state" / "state.db"
    with open_database(default_database_url(db_path.parent)) as db:
        assert db_path.is_file()
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert db.dialect == "sqlite"


def test_open_database_rejects_unsupported_urls() -> None:
    with pytest.raises(StateError, match="unsupported state database 'mysql'"):
        open_database("mysql://kairan:pw@db/kairan")
    with pytest.raises(StateError, match="invalid state database URL"):
        open_database("not a url")


def test_postgresql_url_without_driver_hides_password() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        with pytest.raises(StateError, match=r"not installed") as info:
            open_database("postgresql+psycopg://kairan:hunter2@127.0.0.1:1/kairan")
        assert "hunter2" not in str(info.value)
    else:
        pytest.skip("psycopg is installed; this checks the message shown when it is not")


def test_state_section_in_manifest() -> None:
    m = load_manifest_text("", "m.yaml")
    assert (m.state.url, m.state.url_env, m.state.audit_salt_env) == (None, None, "KAIRAN_AUDIT_SALT")
    assert (m.state.thread_max_turns, m.state.thread_max_chars) == (6, 4000)
    m = load_manifest_text("state:\n  url_env: KAIRAN_DATABASE_URL\n", "m.yaml")
    assert m.state.url_env == "KAIRAN_DATABASE_URL"
    with pytest.raises(ManifestError, match=r"state\.url: the database URL contains a password"):
        load_manifest_text("state:\n  url: postgresql://kairan:secret@db/kairan\n", "m.yaml")
    with pytest.raises(ManifestError, match="set either url or url_env, not both"):
        load_manifest_text("state:\n  url: sqlite:///x.db\n  url_env: DB_URL\n", "m.yaml")
