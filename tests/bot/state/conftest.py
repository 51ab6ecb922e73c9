from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.state.db import Database, default_database_url, open_database


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"


@pytest.fixture
def db(tmp_path: Path, db_path: Path) -> Iterator[Database]:
    database = open_database(default_database_url(db_path.parent))
    yield database
    database.close()


def raw_sql(path: Path, script: str) -> None:
    """Tamper with the database file directly, as someone with file access could."""
    con = sqlite3.connect(path)
    try:
        con.executescript(
            "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;" + script
        )
        con.commit()
    finally:
        con.close()
