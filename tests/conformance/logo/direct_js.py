"""The official LoGo Chat client, direct-js (npm, MIT), as a user the tests drive.

``install()`` puts the version pinned in ``package-lock.json`` into ``node_modules`` beside it
(``npm ci``, once per lock file: a stamp records the lock's hash). ``DirectJsUser`` runs
``user.js`` — direct-js signed in with one token — and turns its JSON lines into events.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LOCK = HERE / "package-lock.json"
STAMP = HERE / "node_modules" / ".kairan-lock-sha256"
VERSION = "2.1.0"


class NodeMissing(RuntimeError):
    """node or npm is not on PATH."""


def install() -> Path:
    """The user script, with direct-js installed from npm as the lock file pins it."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise NodeMissing(f"node={node} npm={npm}")
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if not STAMP.is_file() or STAMP.read_text().strip() != digest:
        # --ignore-scripts: the optional native speed-ups of the websocket package are not needed.
        command = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
        done = subprocess.run(command, cwd=HERE, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"npm ci failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        STAMP.write_text(digest)
    installed = json.loads((HERE / "node_modules" / "direct-js" / "package.json").read_text())
    if installed["version"] != VERSION:
        raise RuntimeError(f"direct-js {installed['version']} installed, {VERSION} expected")
    return HERE / "user.js"


Event = dict[str, Any]


class DirectJsUser:
    """One direct-js process signed in with ``token`` at ``url``."""

    def __init__(self, script: Path, *, url: str, token: str, storage: Path) -> None:
        self.script = script
        storage.parent.mkdir(parents=True, exist_ok=True)
        self.env = os.environ | {
            "LOGO_URL": url, "LOGO_TOKEN": token, "LOGO_STORAGE": str(storage), "HUBOT_LOG_LEVEL": "debug",
            "DIRECT_JS_LOG": "1",
        }
        self.events: list[Event] = []
        self.stderr: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()

    async def __aenter__(self) -> DirectJsUser:
        self.proc = await asyncio.create_subprocess_exec(
            "node", str(self.script), env=self.env, cwd=self.script.parent,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(self.proc.stdout, self._on_event)),
            asyncio.create_task(self._read(self.proc.stderr, self.stderr.append)),
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        for reader in self._readers:
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _read(self, stream: asyncio.StreamReader, sink: Callable[[str], None]) -> None:
        async for raw in stream:
            sink(raw.decode("utf-8", errors="replace").rstrip("\n"))
        self._changed.set()

    def _on_event(self, line: str) -> None:
        try:
            self.events.append(json.loads(line))
        except json.JSONDecodeError:
            self.stderr.append(f"(stdout) {line}")
        self._changed.set()

    def log(self) -> str:
        """direct-js's own log, for a failing assertion's message."""
        verbose = bool(os.environ.get("DIRECT_JS_VERBOSE"))  # every frame, for debugging
        return "\n".join(line for line in self.stderr if verbose or "[direct-js verbose]" not in line)[-6000:]

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e["event"] == kind]

    async def wait(
        self, kind: str, where: Callable[[Event], bool] = lambda e: True, timeout: float = 30
    ) -> Event:
        """The first ``kind`` event that satisfies ``where``, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.of(kind) if where(e)]
            if found:
                return found[0]
            status = self.proc.returncode if self.proc is not None else None
            if status is not None and all(r.done() for r in self._readers):
                raise AssertionError(f"direct-js ended ({status}) before {kind}:\n{self.log()}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} from direct-js in {timeout} s; {self.events}\n{self.log()}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))

    async def exited(self, timeout: float = 10) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def command(self, **command: Any) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command, ensure_ascii=False) + "\n").encode())
        await self.proc.stdin.drain()

    async def send(self, talk_id: int, text: str, *, key: str) -> None:
        await self.command(send={"talk": str(talk_id), "text": text, "key": key})
