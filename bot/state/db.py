"""The state database: one SQLAlchemy engine, SQLite by default, PostgreSQL URLs accepted.

Calls are short and synchronous; async callers wrap them in ``asyncio.to_thread``.
SQLite runs in WAL mode with a busy timeout, and SQLAlchemy emits BEGIN itself so that
``Database.write()`` can take the write lock up front with ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError

from bot.state.tables import meta, metadata

_IMMEDIATE = "kairan_immediate"

# Append-only enforcement for the audit log on SQLite (an attacker with file access can still drop
# these triggers; `AuditLog.verify` is what detects tampering).
_SQLITE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
)


class StateError(RuntimeError):
    """The state database cannot be opened or used as configured."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """Fixed-width UTC timestamp (sorts as text): 2025-05-01T03:04:05.123456Z."""
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {moment!r} has no time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_database_url(data_dir: Path) -> str:
    return f"sqlite:///{Path(data_dir).absolute() / 'state.db'}"


class Database:
    """An open state database. Use ``read()`` / ``write()`` for short transactions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that holds the database's write lock from its start on SQLite."""
        with self.engine.connect() as conn:
            conn.execution_options(**{_IMMEDIATE: True})
            with conn.begin():
                yield conn

    def meta_value(self, key: str) -> str | None:
        with self.read() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()

    def meta_setdefault(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless a value is there already; return the stored one."""
        try:
            with self.write() as conn:
                current = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()
                if current is not None:
                    return str(current)
                conn.execute(insert(meta).values(key=key, value=value))
                return value
        except IntegrityError:  # another process inserted it first
            stored = self.meta_value(key)
            assert stored is not None
            return stored

    def new_secret(self, key: str) -> str:
        """A random hex secret generated once per database and kept in the meta table."""
        return self.meta_setdefault(key, secrets.token_hex(32))

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _on_begin)
        cursor = dbapi_connection.cursor()
        if database and database != ":memory:":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def open_database(url: str) -> Database:
    """Open (and create the tables of) the state database at a SQLAlchemy URL.

    ``sqlite:///path/state.db`` (see ``default_database_url``) or ``postgresql+psycopg://…``.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StateError(f"invalid state database URL: {exc}") from None
    backend = parsed.get_backend_name()
    shown = parsed.render_as_string(hide_password=True)
    if backend == "sqlite":
        engine = _sqlite_engine(url)
    elif backend == "postgresql":
        try:
            engine = create_engine(url, pool_pre_ping=True)
        except ModuleNotFoundError as exc:
            raise StateError(f"the PostgreSQL driver for {shown} is not installed: {exc}") from exc
    else:
        raise StateError(f"unsupported state database {backend!r} in {shown}: use sqlite or postgresql")
    metadata.create_all(engine)
    if backend == "sqlite":
        with engine.begin() as conn:
            for ddl in _SQLITE_TRIGGERS:
                conn.exec_driver_sql(ddl)
    return Database(engine)
