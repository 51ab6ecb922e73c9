"""A throwaway PostgreSQL server per test session, and a fresh empty database per test.

Registered for every test module through ``pytest_plugins`` in ``tests/conftest.py``:

* ``postgres_server`` (session): initdb + ``pg_ctl start`` on 127.0.0.1, a free port and a unix
  socket directory in a temporary directory; stopped and deleted at the end of the session.
  As root (initdb refuses root) the server runs as the ``postgres`` system user, else ``nobody``.
* ``postgres_url``: ``postgresql+psycopg://kairan@127.0.0.1:PORT/t_<hex>``, a database created for
  the test (and dropped after it).
* ``state_url``: parametrized over ``sqlite`` and ``postgres``: run state tests on both.

When no PostgreSQL binaries are installed the PostgreSQL tests are skipped with the reason (CI
installs them, so there they always run).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.local_http import free_port

SUPERUSER = "kairan"
_SERVER_SETTINGS = (
    "-c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=300 "
    "-c shared_buffers=32MB"
)


def find_bindir() -> Path | None:
    """The directory holding initdb/pg_ctl: KAIRAN_PG_BINDIR, Debian's layout, or the PATH."""
    configured = os.environ.get("KAIRAN_PG_BINDIR")
    if configured:
        return Path(configured) if (Path(configured) / "initdb").is_file() else None
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _run_as() -> str | None:
    """The unprivileged user to run the server as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists for initdb")


@dataclass
class PostgresServer:
    bindir: Path
    root: Path  # data/, sock/, server.log
    port: int
    user: str | None  # OS user the server runs as (None: ourselves)
    host: str = "127.0.0.1"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def _command(self, *args: str) -> list[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        return ["runuser", "-u", self.user, "--", *cmd] if self.user else cmd

    def _run(self, *args: str, timeout: float = 120) -> None:
        done = subprocess.run(self._command(*args), capture_output=True, text=True, timeout=timeout,
                              cwd=self.root)
        if done.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            output = done.stderr + done.stdout
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {output}\n{log}")

    def start(self) -> None:
        sock = self.root / "sock"
        sock.mkdir()
        if self.user:
            entry = pwd.getpwnam(self.user)
            for path in (self.root, sock):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data_dir), "-A", "trust", "-E", "UTF8", "--locale=C",
                  "-U", SUPERUSER, "--no-sync")
        options = f"-h {self.host} -p {self.port} -k {sock} {_SERVER_SETTINGS}"
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir), "-l", str(self.log_file),
                  "-o", options)

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data_dir), timeout=60)

    def url(self, database: str, *, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        conninfo = f"host={self.host} port={self.port} user={SUPERUSER} dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)  # identifiers made here, not user input

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; returns its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:16]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        reason = (
            "PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or on PATH); "
            ".ci/run installs it"
        )
        if os.environ.get("KAIRAN_REQUIRE_POSTGRES"):  # CI: a missing server is a failure, not a skip
            pytest.fail(reason)
        pytest.skip(reason)
    # Not under pytest's tmp directory (mode 0700): the server's user must be able to enter it.
    root = Path(tempfile.mkdtemp(prefix="kairan-pg-"))
    server = PostgresServer(bindir=bindir, root=root, port=free_port(), user=_run_as())
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh empty database on the session's server, as a SQLAlchemy + psycopg 3 URL."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh state database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'state.db'}"
    return str(request.getfixturevalue("postgres_url"))
