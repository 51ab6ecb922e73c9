"""The state database: one SQLAlchemy engine, SQLite by default, PostgreSQL URLs accepted.

Calls are short and synchronous; async callers wrap them in ``asyncio.to_thread``.
SQLite runs in WAL mode with a busy timeout, and SQLAlchemy emits BEGIN itself so that
``Database.write()`` can take the write lock up front with ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Insert, MetaData, Table, create_engine, event, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from bot.state.tables import meta, metadata

_IMMEDIATE = "kairan_immediate"

# Append-only enforcement for the hash-chained logs on SQLite (an attacker with file access can still
# drop these triggers; `kairan audit verify` is what detects tampering).
_CHAINED_TABLES = ("audit_log", "feedback_log")
_SQLITE_TRIGGERS = tuple(
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
    for table in _CHAINED_TABLES
    for op in ("UPDATE", "DELETE")
)
_POSTGRES_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only'; END $$",
    *(
        f"CREATE OR REPLACE TRIGGER {table}_no_update BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        for table in _CHAINED_TABLES
    ),
)
# Indexes added after a table was first created (create_all adds them to new tables only).
_ADDED_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_usage_tenant_time ON usage (tenant, time, currency, cost_micros)",
)
# pg_advisory_xact_lock key serialising schema creation across processes starting at once
# (concurrent CREATE TABLE of the same table fails on PostgreSQL instead of waiting).
_SCHEMA_LOCK_KEY = 0x6B6169_72616E  # "kairan"
_CONNECT_TIMEOUT_S = 10


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


def insert_new(conn: Connection, table: Table, **values: Any) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING``: True when the row was added; False when a row with its key
    exists (or was being inserted by another process: PostgreSQL waits for that one to commit).

    A conflict is no error, so PostgreSQL logs none (a plain INSERT logs one per redelivered event).
    Uses ``RETURNING`` (the driver's rowcount for INSERT is -1 with psycopg through SQLAlchemy).
    """
    return conn.execute(_insert_new_statement(conn.dialect.name, table), values).first() is not None


def upsert(conn: Connection, table: Table, row: Mapping[str, Any], *, keys: tuple[str, ...] = ()) -> None:
    """``INSERT … ON CONFLICT (keys) DO UPDATE``: the row is written whether or not its key exists, in
    one statement (a select-then-insert races with another replica writing the same key). ``keys``:
    the columns of a unique constraint; by default the primary key."""
    conn.execute(_upsert_statement(conn.dialect.name, table, tuple(row), keys), dict(row))


@functools.cache
def _upsert_statement(dialect: str, table: Table, columns: tuple[str, ...], keys: tuple[str, ...]) -> Insert:
    """Built once per table, dialect and set of columns; the values are bound per call."""
    keys = keys or tuple(c.name for c in table.primary_key.columns)
    statement = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    updated = {name: statement.excluded[name] for name in columns if name not in keys}
    return statement.on_conflict_do_update(index_elements=keys, set_=updated)


@functools.cache
def _insert_new_statement(dialect: str, table: Table) -> Insert:
    """Built once per table and dialect; the values are bound per call."""
    keys = table.primary_key.columns
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing().returning(*keys)
    return sqlite.insert(table).on_conflict_do_nothing().returning(*keys)


def lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for a name."""
    return int.from_bytes(hashlib.sha256(f"kairan:{name}".encode()).digest()[:8], "big", signed=True)


class HeldLock:
    """A cross-process lock; ``release()`` once. On SQLite it holds nothing (one machine only)."""

    def __init__(self, conn: Connection | None = None, key: int = 0) -> None:
        self._conn = conn
        self._key = key

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            conn.commit()
        except BaseException:
            conn.invalidate()  # never back to the pool still holding the lock: the session ends
            raise
        finally:
            conn.close()


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

    @contextmanager
    def write_in(self, conn: Connection | None) -> Iterator[Connection]:
        """``conn`` when the caller already holds a write transaction (several records, one commit),
        else a transaction of its own."""
        if conn is not None:
            yield conn
            return
        with self.write() as own:
            yield own

    def meta_value(self, key: str) -> str | None:
        with self.read() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()

    def meta_setdefault(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless a value is there already; return the stored one."""
        with self.write() as conn:
            if insert_new(conn, meta, key=key, value=value):
                return value
            return str(conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one())

    def new_secret(self, key: str) -> str:
        """A random hex secret generated once per database and kept in the meta table."""
        return self.meta_setdefault(key, secrets.token_hex(32))

    def try_lock(self, name: str) -> HeldLock | None:
        """Take the cross-process lock ``name`` without waiting; None when another session holds it.

        PostgreSQL: a session advisory lock on a connection kept until ``release()``, so replicas
        on several machines exclude each other. SQLite: always granted.
        """
        if self.dialect != "postgresql":
            return HeldLock()
        key = lock_key(name)
        conn = self.engine.connect()
        try:
            taken = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one()
            conn.commit()
        except BaseException:
            conn.close()
            raise
        if not taken:
            conn.close()
            return None
        return HeldLock(conn, key)

    def create_tables(self, tables: MetaData) -> None:
        """Create the missing tables of ``tables``; safe when several processes start at once."""
        create_tables(self.engine, tables)

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
            # No fsync per commit (WAL is synced at checkpoints): a killed process loses nothing it
            # committed; only a power cut may roll back the last commits. 5-10x shorter write locks.
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def create_tables(engine: Engine, tables: MetaData, ddl: tuple[str, ...] = ()) -> None:
    """``create_all`` plus extra DDL in one transaction, under a cross-process lock on PostgreSQL."""
    with engine.connect() as conn, conn.execution_options(**{_IMMEDIATE: True}).begin():
        # SQLite: BEGIN IMMEDIATE (a deferred one cannot wait to upgrade to writing: "locked").
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        tables.create_all(conn)
        for statement in ddl:
            conn.exec_driver_sql(statement)


def describe(url: URL) -> str:
    """Where a database is, for messages: backend, user, host, port and database; never the password."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite database {url.database or ':memory:'}"
    user = f"{url.username}@" if url.username else ""
    port = url.port or 5432
    return f"PostgreSQL database {url.database or '(default)'!r} at {user}{url.host or 'localhost'}:{port}"


def _driver_reason(exc: DBAPIError, url: URL) -> str:
    """The driver's first line (connection refused, authentication failed, ...), password removed."""
    lines = [line.strip() for line in str(exc.orig).splitlines() if line.strip()]
    reason = lines[0] if lines else type(exc.orig).__name__
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return reason


def open_database(url: str) -> Database:
    """Open (and create the tables of) the state database at a SQLAlchemy URL.

    ``sqlite:///path/state.db`` (see ``default_database_url``) or ``postgresql+psycopg://…``.
    Raises ``StateError`` naming the database (never its password) when it cannot be reached.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StateError(f"invalid state database URL: {exc}") from None
    backend = parsed.get_backend_name()
    shown = parsed.render_as_string(hide_password=True)
    if backend == "sqlite":
        engine = _sqlite_engine(url)
        ddl = _SQLITE_TRIGGERS
    elif backend == "postgresql":
        connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": _CONNECT_TIMEOUT_S}
        try:
            engine = create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
        except ModuleNotFoundError as exc:
            raise StateError(f"the PostgreSQL driver for {shown} is not installed: {exc}") from exc
        ddl = _POSTGRES_TRIGGERS
    else:
        raise StateError(f"unsupported state database {backend!r} in {shown}: use sqlite or postgresql")
    try:
        create_tables(engine, metadata, ddl + _ADDED_INDEXES)
    except DBAPIError as exc:
        engine.dispose()
        raise StateError(
            f"cannot open the state {describe(parsed)}: {_driver_reason(exc, parsed)}"
        ) from None
    return Database(engine)
