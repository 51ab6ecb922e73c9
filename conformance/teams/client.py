"""The Microsoft 365 Agents Playground (npm ``@microsoft/m365agentsplayground``, pinned in
package.json / package-lock.json), installed with ``npm ci`` into a cache directory and driven
through the HTTP and WebSocket endpoints its own web page uses.

The published package has no headless mode and no automation API (its README points to
``@microsoft/m365agentsplayground-cli`` for automated testing, which the npm registry does not
have); ``TEAMSAPPTESTER_BROWSER=none`` keeps it from opening a browser. What the page does:

* ``POST /_conversation/v1/conversations/{id}/messages``: the compose box (a channel post, a reply
  in a thread, a personal-chat message; ``mentions`` for an @mention);
* ``POST /_conversation/v1/invoke``: the feedback buttons (👍/👎 and the comment);
* ``GET /_internal/v1/customActivities/template`` + ``POST /_internal/v1/customActivities``: the
  "mock an activity" menu (installing the app in a team; any activity as written);
* ``GET /_internal/v1/config``: the page's first call (the Playground then waits for the bot);
* ``/_ws/log/stream``: the log panel, one record per activity exchanged in either direction with
  the HTTP status it got; ``/_ws_conversation/v1/conversations/stream``: the chat pane.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
PACKAGE = "@microsoft/m365agentsplayground"
CONFIG = HERE / "m365agentsplayground.yml"  # its mock Teams: tenant, users, chats, team
WAIT_S = 60.0  # for one exchange
BOT = "User Application"  # how the log panel names the bot

# The mock Teams of m365agentsplayground.yml.
TENANT = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
BOT_ID = "28:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
BOT_NAME = "kairan"
ME = "29:kairan-conformance-user-0"
PERSONAL = "a:kairan-conformance-personal-chat"
GENERAL = "19:kairan-conformance-general@thread.tacv2"  # the team's General channel has the team's id


def cache_dir() -> Path:
    lock = (HERE / "package-lock.json").read_bytes()
    default = Path.home() / ".cache" / "kairan" / "conformance"
    root = Path(os.environ.get("KAIRAN_CONFORMANCE_CACHE") or default)
    return root / f"teams-playground-{hashlib.sha256(lock).hexdigest()[:12]}"


def install_playground() -> Path:
    """``npm ci`` of package-lock.json into the cache (once per lock file); the CLI's path."""
    pinned = json.loads((HERE / "package.json").read_text(encoding="utf-8"))["dependencies"][PACKAGE]
    target = cache_dir()
    installed = target / "node_modules" / PACKAGE
    manifest = installed / "package.json"
    if not (manifest.is_file() and json.loads(manifest.read_text(encoding="utf-8"))["version"] == pinned):
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is not on PATH: make conformance needs Node.js (https://nodejs.org)")
        target.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(HERE / name, target / name)
        print(f"installing {PACKAGE}@{pinned} into {target} (npm ci)", flush=True)
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
            cwd=target, check=True, timeout=300,
        )
    return installed / "cli.js"


def command(cli: Path, node: str, *, bot_url: str, port: int) -> list[str]:
    """The Playground for the bot at ``bot_url`` as Teams (msteams), on ``port``, no telemetry."""
    return [node, str(cli), "start", "-e", bot_url, "-c", "msteams", "-p", str(port), "--disable-telemetry"]


def environment(base: dict[str, str], log_file: Path) -> dict[str, str]:
    return {
        **base,
        "TEAMSAPPTESTER_BROWSER": "none",  # open no browser
        "M365_AGENTS_PLAYGROUND_CONFIG_PATH": str(CONFIG),
        "M365_AGENTS_PLAYGROUND_LOGFILE": str(log_file),
    }


@dataclass(frozen=True)
class Exchange:
    """One entry of the Playground's log panel: an activity and the HTTP status it got."""

    direction: str  # "to bot" (Playground → kairan) or "from bot"
    name: str  # activity name: message, typing, invoke, installationUpdate, …
    conversation: str
    activity: dict[str, Any]
    status: int | None
    response: Any

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Playground:
    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base = base_url
        self.http = session
        self.exchanges: list[Exchange] = []
        self.shown: list[dict[str, Any]] = []  # what the chat pane was told (createMessage, updateMessage)
        self._changed = asyncio.Condition()
        self._readers: list[asyncio.Task[None]] = []

    async def connect(self) -> None:
        for path, reader in (("/_ws/log/stream", self._log), ("/_ws_conversation/v1/conversations/stream",
                                                                self._pane)):
            ws = await self.http.ws_connect(self.base + path, heartbeat=20)
            self._readers.append(asyncio.create_task(self._read(ws, reader)))
        async with self.http.get(self.base + "/_internal/v1/config") as response:  # as the page does first
            response.raise_for_status()

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)

    async def _read(
        self, ws: aiohttp.ClientWebSocketResponse, handle: Callable[[dict[str, Any]], None]
    ) -> None:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                handle(json.loads(message.data))
                async with self._changed:
                    self._changed.notify_all()

    def _log(self, data: dict[str, Any]) -> None:
        log = data.get("log") or {}
        if data.get("logAction") != "appendLog" or "request" not in log:
            return
        response = log.get("response") or {}
        self.exchanges.append(
            Exchange(
                direction="from bot" if log.get("from") == BOT else "to bot",
                name=str(log.get("activityName")),
                conversation=str(log.get("conversationId")),
                activity=dict((log.get("request") or {}).get("body") or {}),
                status=response.get("statusCode"),
                response=response.get("body"),
            )
        )

    def _pane(self, data: dict[str, Any]) -> None:
        self.shown.append(data)

    async def wait(self, found: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
        async def until() -> Any:
            async with self._changed:
                while not (result := found()):
                    await self._changed.wait()
                return result

        try:
            return await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}") from None

    async def exchange(self, what: str, match: Callable[[Exchange], bool], after: int = 0) -> Exchange:
        """The first exchange from index ``after`` on that ``match`` accepts."""
        return await self.wait(lambda: next((e for e in self.exchanges[after:] if match(e)), None), what)

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        async with self.http.post(self.base + path, json=body) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text.strip().startswith(("{", "[")) else text)

    async def say(self, conversation: str, text: str, *, mention: bool) -> dict[str, Any]:
        """Type ``text`` in the compose box of ``conversation`` (with an @mention of the bot)."""
        body: dict[str, Any] = {"from": {"id": ME}, "text": text, "textFormat": "plain"}
        if mention:
            tag = f"<at>{BOT_NAME}</at>"
            body["text"] = f"{tag} {text}"
            body["mentions"] = [{"mentioned": {"id": BOT_ID}, "text": tag}]
        status, sent = await self.post(f"/_conversation/v1/conversations/{conversation}/messages", body)
        if status != 200:
            raise RuntimeError(f"the Playground refused the message: HTTP {status} {sent}")
        return dict(sent)

    async def custom(self, activity: dict[str, Any]) -> None:
        """The "mock an activity" menu: send ``activity`` to the bot as it is."""
        status, body = await self.post("/_internal/v1/customActivities", activity)
        if status != 200:
            raise RuntimeError(f"the Playground refused the custom activity: HTTP {status} {body}")

    async def template(self, conversation: str, kind: str) -> dict[str, Any]:
        params = {"conversationId": conversation, "type": kind}
        async with self.http.get(self.base + "/_internal/v1/customActivities/template", params=params) as r:
            r.raise_for_status()
            return dict(await r.json())


