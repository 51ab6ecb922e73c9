"""A local S3-compatible server (moto's server mode) for object-storage tests.

``S3Server`` runs ``python -m moto.server`` as a child process on 127.0.0.1 and a
free port: a real HTTP endpoint, so LanceDB (Rust object_store), pyarrow and
subprocesses (``kairan ingest`` / ``kairan search``) all reach the same buckets.
With ``auth=True`` moto checks access keys, so wrong credentials are rejected.

Fixtures (import them into a test module):

- ``s3_server``: one server per test session.
- ``s3_env``: the AWS_* variables for it, set in this process (restored afterwards);
  pass the returned dict to subprocesses.
- ``s3_bucket``: a fresh bucket for the test, as ``s3://name``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.local_http import free_port

ACCESS_KEY = "kairan-test-key"
SECRET_KEY = "kairan-test-secret-Zq81"  # a recognisable value: tests assert it never shows up in errors
REGION = "us-east-1"
_START_TIMEOUT_S = 30.0


class S3Server:
    def __init__(self, *, auth: bool = False, log_path: Path | None = None) -> None:
        self.auth = auth
        self.log_path = log_path
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What a client needs: credentials, region and endpoint (never any real AWS account)."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def start(self) -> S3Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        if self.auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"  # moto then checks every request's access key
        for _ in range(3):  # the free port may be taken between probing and binding
            self.port = free_port()
            self._process = self._spawn(env)
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError("moto server did not start")

    def _spawn(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        if self.log_path is None:
            return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT_S
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def create_bucket(self, name: str | None = None) -> str:
        """A new bucket (a unique name unless given); returns ``s3://name``."""
        import pyarrow.fs as pafs

        name = name or f"kairan-{uuid.uuid4().hex[:12]}"
        fs = pafs.S3FileSystem(
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            region=REGION,
            endpoint_override=self.endpoint,
            scheme="http",
            allow_bucket_creation=True,
        )
        fs.create_dir(name)
        return f"s3://{name}"

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with S3Server(log_path=log_path) as server:
        yield server


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(name)
    env = s3_server.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def s3_bucket(s3_server: S3Server, s3_env: dict[str, str]) -> str:
    return s3_server.create_bucket()
