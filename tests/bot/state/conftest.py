"""State tests run on SQLite and on PostgreSQL (``state_url`` from tests/fakes/postgres.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import make_url

from bot.state.db import Database, open_database

Tamper = Callable[[str], None]


@pytest.fixture
def db(state_url: str) -> Iterator[Database]:
    database = open_database(state_url)
    yield database
    database.close()


def raw_sql(url: str, script: str) -> None:
    """Tamper with the database directly, as someone with file or superuser access could."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        con = sqlite3.connect(str(parsed.database))
        try:
            drops = "".join(f"DROP TRIGGER IF EXISTS {t}_no_{op};"
                            for t in ("audit_log", "feedback_log") for op in ("update", "delete"))
            con.executescript(drops + script)
            con.commit()
        finally:
            con.close()
        return
    import psycopg

    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        for table in ("audit_log", "feedback_log"):
            conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_update ON {table}")
        for statement in filter(str.strip, script.split(";")):
            conn.execute(statement)  # test-made SQL


@pytest.fixture
def tamper(state_url: str) -> Tamper:
    return lambda script: raw_sql(state_url, script)
