"""Opening a PostgreSQL state database: clear errors when it cannot be reached, safe concurrent starts."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import inspect

from bot.state.db import Database, StateError, open_database
from tests.fakes.local_http import free_port
from tests.fakes.postgres import PostgresServer


def test_refused_port_names_host_port_and_database_but_not_the_password() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(StateError) as info:
        open_database(f"postgresql+psycopg://kairan:hunter2@127.0.0.1:{port}/kairan_state")
    message = str(info.value)
    assert f"PostgreSQL database 'kairan_state' at kairan@127.0.0.1:{port}" in message
    assert "refused" in message.lower()
    assert "hunter2" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_unknown_database_is_named(postgres_server: PostgresServer) -> None:
    with pytest.raises(StateError, match=r"'no_such_db' at kairan@127\.0\.0\.1:\d+: .*does not exist"):
        open_database(postgres_server.url("no_such_db"))


def test_refused_login_is_named_without_the_password(postgres_server: PostgresServer) -> None:
    url = postgres_server.url("postgres").replace("kairan@", "intruder:hunter2@")
    with pytest.raises(StateError) as info:
        open_database(url)
    message = str(info.value)
    assert f"'postgres' at intruder@127.0.0.1:{postgres_server.port}" in message
    assert 'role "intruder" does not exist' in message and "hunter2" not in message


def test_replicas_starting_at_once_create_the_schema_once(postgres_url: str) -> None:
    """Concurrent CREATE TABLE fails on PostgreSQL; open_database serialises schema creation."""
    start = threading.Barrier(6)
    opened: list[Database] = []
    errors: list[BaseException] = []

    def replica() -> None:
        start.wait()
        try:
            opened.append(open_database(postgres_url))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        tables = set(inspect(opened[0].engine).get_table_names())
        # One registry: the digest and Teams tables are created with the rest, under the same lock.
        assert {"audit_log", "audit_head", "processed_events", "usage", "feedback", "outbox",
                "questions_in_flight", "digest_ledger", "digest_items", "teams_conversations"} <= tables
    finally:
        for db in opened:
            db.close()


def test_try_lock_excludes_other_sessions_until_released(postgres_url: str) -> None:
    with open_database(postgres_url) as first, open_database(postgres_url) as second:
        held = first.try_lock("digest-source:nta-news")
        assert held is not None
        assert second.try_lock("digest-source:nta-news") is None  # another replica must wait
        other = second.try_lock("digest-source:mhlw")  # a different name is independent
        assert other is not None
        other.release()
        held.release()
        again = second.try_lock("digest-source:nta-news")
        assert again is not None
        again.release()
