"""A local mock of the Slack Web API and the Socket Mode WebSocket, recording every call.

    async with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        slack.rate_limit_next("chat.postMessage", retry_after=1)
        slack.http_error_next("chat.postMessage", 503)   # a Slack-side outage, then normal again
        ...
        posts = await slack.wait_for("chat.postMessage", count=1)

Web API: ``POST /api/<method>`` with JSON or form bodies, answered like Slack does
(``{"ok": true, ...}``; 429 with ``Retry-After``; 5xx; ``{"ok": false, "error": ...}``).
Posted messages are kept per channel (with their ``metadata``) and served back by
``conversations.history`` / ``conversations.replies``; ``hold_after_accept`` stores a post and
then never answers it (a process killed while waiting for Slack's response).
Socket Mode: ``apps.connections.open`` returns ``ws://127.0.0.1:<port>/link/?ticket=…``; the
server sends ``hello`` on connect, ``push_envelope`` sends an envelope, and the client's acks
(``{"envelope_id": ...}``) are recorded.

Like Slack, the mock refuses what Slack refuses rather than what our code happens to send:

* blocks that slack_sdk's own Block Kit models reject (``invalid_blocks``), more than 50 of them,
  or more text than one message takes (``msg_blocks_too_long``: Slack refuses a message whose
  blocks hold more than about 13,000 characters in all, whatever the 3,000 per section);
* with ``scopes`` (the bot token's scopes, e.g. those of our app manifest), a method the token
  has no scope for (``missing_scope``, naming the scope Slack's method reference asks for: the
  history of a private channel needs ``groups:history``, of a DM ``im:history``; mark a channel's
  kind with ``set_channel_kind``).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import WSMsgType, web
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from tests.fakes.local_http import LocalServer

BOT_USER_ID = "U0KAIRANBOT"
BOT_ID = "B0KAIRANBOT"
TEAM_ID = "T0TESTTEAM"

# Methods answered with {"ok": true} plus the extra fields below (ts for message-creating methods).
_SIMPLE_METHODS = {
    "chat.postMessage", "chat.postEphemeral", "chat.update", "chat.startStream", "chat.appendStream",
    "chat.stopStream", "reactions.add", "reactions.remove", "assistant.threads.setStatus",
    "assistant.threads.setSuggestedPrompts", "views.open",
}
_CREATES_MESSAGE = {"chat.postMessage", "chat.startStream"}
_CARRIES_BLOCKS = {"chat.postMessage", "chat.postEphemeral", "chat.update"}
MAX_BLOCKS = 50
# Slack refuses a message whose blocks carry more than about 13,000 characters of text in all
# (measured: 13,172-13,297 depending on the blocks; not in Slack's reference).
MAX_BLOCK_TEXT = 13_000

# The bot-token scope each method needs (Slack's method reference). History methods need the scope
# of the conversation's kind.
METHOD_SCOPE = {
    "chat.postMessage": "chat:write", "chat.postEphemeral": "chat:write", "chat.update": "chat:write",
    "chat.startStream": "chat:write", "chat.appendStream": "chat:write", "chat.stopStream": "chat:write",
    "reactions.add": "reactions:write", "reactions.remove": "reactions:write",
    "assistant.threads.setStatus": "assistant:write",
    "assistant.threads.setSuggestedPrompts": "assistant:write",
}
HISTORY_SCOPE = {"public": "channels:history", "private": "groups:history", "im": "im:history",
                 "mpim": "mpim:history"}
ChannelKind = str  # "public" | "private" | "im" | "mpim"


def block_kit_problems(blocks: Any) -> list[str]:
    """Why Slack would refuse ``blocks``, checked with slack_sdk's own Block Kit models (empty: valid).

    Each block must parse as a known block type, pass slack_sdk's validation (text lengths, element
    counts, button values …) and come back unchanged from its model (a field slack_sdk does not
    know, or a wrong shape, is dropped on the way and shows as a difference).
    """
    if not isinstance(blocks, list):
        return [f"blocks is a {type(blocks).__name__}, not a list"]
    problems = [f"{len(blocks)} blocks, Slack takes {MAX_BLOCKS}"] if len(blocks) > MAX_BLOCKS else []
    for i, block in enumerate(blocks):
        parsed = Block.parse(block) if isinstance(block, dict) else None
        if parsed is None:
            problems.append(f"block {i} is not a Block Kit block: {block!r:.80}")
            continue
        try:
            again = parsed.to_dict()  # validates the block and everything in it
        except SlackObjectFormationError as exc:
            problems.append(f"block {i} ({block.get('type')}): {exc}")
            continue
        if again != block:
            kind = block.get("type")
            problems.append(f"block {i} ({kind}) does not survive slack_sdk's model: {block!r:.99}")
    return problems


def block_text_length(blocks: list[dict[str, Any]]) -> int:
    """The characters of every text in ``blocks`` (what Slack's per-message limit counts)."""
    total = 0

    def walk(value: Any) -> None:
        nonlocal total
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "text" and isinstance(inner, str):
                    total += len(inner)
                else:
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(blocks)
    return total


@dataclass(frozen=True)
class SlackCall:
    method: str
    params: dict[str, Any]
    token: str | None
    time: float  # time.perf_counter() when the request arrived
    status: int  # HTTP status the mock answered with
    response: dict[str, Any]


@dataclass
class FakeSlack(LocalServer):
    runner_options: ClassVar[dict[str, Any]] = {"handler_cancellation": True}  # a held call is cancellable
    bot_user_id: str = BOT_USER_ID
    team_id: str = TEAM_ID
    scopes: frozenset[str] | None = None  # the bot token's scopes; None: every method is allowed
    channel_kinds: dict[str, ChannelKind] = field(default_factory=dict)
    calls: list[SlackCall] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)
    ws_connections: int = 0
    _rate_limits: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _errors: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    _delays: dict[str, float] = field(default_factory=dict)
    _http_errors: dict[str, deque[tuple[int, float | None]]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    _held: set[str] = field(default_factory=set)
    _release: asyncio.Event | None = None
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _changed: asyncio.Condition | None = None

    # -- scripting ---------------------------------------------------------------------------
    def rate_limit_next(self, method: str, *, retry_after: float = 1, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``Retry-After``."""
        self._rate_limits[method].extend([retry_after] * times)

    def fail_next(self, method: str, error: str, *, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with ``{"ok": false, "error": error}``."""
        self._errors[method].extend([error] * times)

    def http_error_next(
        self, method: str, status: int = 503, *, times: int = 1, retry_after: float | None = None
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP ``status`` (a Slack-side failure)."""
        self._http_errors[method].extend([(status, retry_after)] * times)

    def hold_after_accept(self, method: str) -> None:
        """Store every call of ``method`` (the message is in the channel) but keep the response back.

        The response is released when the server stops (or ``release()``): the client sees a post
        that happened while it was still waiting, like a process killed mid-request.
        """
        self._held.add(method)

    def release(self) -> None:
        self._held.clear()
        if self._release is not None:
            self._release.set()

    def channel_messages(self, channel: str) -> list[dict[str, Any]]:
        """Messages posted to ``channel`` (top level and in threads), oldest first."""
        return list(self.messages.get(channel, []))

    def set_channel_kind(self, channel: str, kind: ChannelKind) -> None:
        """Say what kind of conversation ``channel`` is (default: D… a DM, anything else public)."""
        self.channel_kinds[channel] = kind

    def channel_kind(self, channel: str) -> ChannelKind:
        return self.channel_kinds.get(channel) or ("im" if channel.startswith("D") else "public")

    def delay(self, method: str, seconds: float) -> None:
        """Answer every call of ``method`` only after ``seconds``."""
        self._delays[method] = seconds

    # -- inspection --------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        if not self._port:
            raise RuntimeError("server not started: use `async with`")
        return f"http://127.0.0.1:{self._port}/api/"

    def calls_to(self, method: str, *, ok_only: bool = True) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method and (not ok_only or c.response.get("ok") is True)]

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 15.0) -> list[SlackCall]:
        """Wait until ``count`` successful calls of ``method`` arrived; fail loudly on timeout."""
        assert self._changed is not None
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: len(self.calls_to(method)) >= count), timeout
                )
            except TimeoutError:
                raise AssertionError(
                    f"{count} call(s) of {method} expected within {timeout}s; got: {self.methods()}"
                ) from None
        return self.calls_to(method)

    async def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        assert self._changed is not None
        async with self._changed:
            try:
                acked = lambda: any(a.get("envelope_id") == envelope_id for a in self.acks)  # noqa: E731
                await asyncio.wait_for(self._changed.wait_for(acked), timeout)
            except TimeoutError:
                raise AssertionError(f"no ack for {envelope_id} within {timeout}s: {self.acks}") from None
        return next(a for a in self.acks if a.get("envelope_id") == envelope_id)

    async def wait_connected(self, timeout: float = 10.0) -> None:
        assert self._changed is not None
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: bool(self._sockets)), timeout)

    async def push_envelope(self, envelope: dict[str, Any]) -> None:
        """Send a Socket Mode envelope on the newest open connection."""
        open_sockets = [ws for ws in self._sockets if not ws.closed]
        if not open_sockets:
            raise AssertionError("no Socket Mode client is connected")
        await open_sockets[-1].send_str(json.dumps(envelope, ensure_ascii=False))

    # -- lifecycle ---------------------------------------------------------------------------
    def app(self) -> web.Application:
        self._changed = asyncio.Condition()
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # slack_sdk reads conversations.* with GET
        app.router.add_get("/link/", self._socket)
        return app

    async def closing(self) -> None:
        self.release()
        for ws in self._sockets:
            await ws.close()

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    # -- Web API -----------------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.method == "GET":
            pass
        elif request.content_type == "application/json":
            params.update(await request.json())
        else:
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else params.get("token")
        if method in self._delays:
            await asyncio.sleep(self._delays[method])
        status, body, headers = self._reply(method, params)
        self.calls.append(SlackCall(method, params, token, arrived, status, body))
        await self._notify()
        if method in self._held and status == 200 and self._release is not None:
            await self._release.wait()
        return web.json_response(body, status=status, headers=headers)

    def _reply(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if self._rate_limits[method]:
            retry_after = self._rate_limits[method].popleft()
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": f"{retry_after:g}"}
        if self._http_errors[method]:
            status, error_retry_after = self._http_errors[method].popleft()
            extra = {} if error_retry_after is None else {"Retry-After": f"{error_retry_after:g}"}
            error = "internal_error" if status < 503 else "service_unavailable"
            return status, {"ok": False, "error": error}, extra
        if self._errors[method]:
            return 200, {"ok": False, "error": self._errors[method].popleft()}, {}
        refused = self._refusal(method, params)
        if refused is not None:
            return 200, {"ok": False, **refused}, {}
        if method in ("conversations.history", "conversations.replies"):
            return 200, self._history(method, params), {}
        if method == "auth.test":
            return 200, {
                "ok": True, "url": "https://kairan-test.slack.com/", "team": "kairan-test",
                "user": "kairan", "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": BOT_ID,
            }, {}
        if method == "apps.connections.open":
            url = f"ws://127.0.0.1:{self._port}/link/?ticket={uuid.uuid4()}&app_id=A0KAIRAN"
            return 200, {"ok": True, "url": url}, {}
        if method in _SIMPLE_METHODS:
            body: dict[str, Any] = {"ok": True}
            if method in _CREATES_MESSAGE:
                body |= {"channel": params.get("channel"), "ts": f"{1700000000 + next(self._ts)}.000100"}
                self._store_message(params, body["ts"])
            elif method in ("chat.update", "chat.appendStream", "chat.stopStream"):
                body |= {"channel": params.get("channel"), "ts": params.get("ts")}
            elif method == "chat.postEphemeral":
                body |= {"message_ts": f"{1700000000 + next(self._ts)}.000200"}
            return 200, body, {}
        return 200, {"ok": False, "error": "unknown_method"}, {}

    def _refusal(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """Slack's error for a call it refuses (scope, Block Kit, size), else None."""
        if self.scopes is not None:
            needed = METHOD_SCOPE.get(method)
            if method in ("conversations.history", "conversations.replies"):
                needed = HISTORY_SCOPE[self.channel_kind(str(params.get("channel")))]
            if needed is not None and needed not in self.scopes:
                return {"error": "missing_scope", "needed": needed, "provided": ",".join(sorted(self.scopes))}
        if method in _CARRIES_BLOCKS and params.get("blocks") is not None:
            blocks = params["blocks"]
            if isinstance(blocks, str):
                blocks = json.loads(blocks)
            problems = block_kit_problems(blocks)
            if problems:
                return {"error": "invalid_blocks", "errors": problems}
            if block_text_length(blocks) > MAX_BLOCK_TEXT:
                return {"error": "msg_blocks_too_long"}
        return None

    def _store_message(self, params: dict[str, Any], ts: str) -> None:
        metadata = params.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        message: dict[str, Any] = {
            "type": "message", "ts": ts, "text": params.get("text", ""), "bot_id": BOT_ID,
            "user": self.bot_user_id,
        }
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        if metadata:
            message["metadata"] = metadata
        self.messages[str(params.get("channel"))].append(message)

    def _history(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Newest first, like Slack; ``metadata`` only with ``include_all_metadata``."""
        channel = str(params.get("channel"))
        found = self.messages.get(channel, [])
        if method == "conversations.replies":
            root = str(params.get("ts"))
            found = [m for m in found if m.get("thread_ts") == root or m["ts"] == root]
        else:
            found = [m for m in found if "thread_ts" not in m]
        oldest = float(params.get("oldest") or 0)
        found = [m for m in found if float(m["ts"]) > oldest]
        include = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        shown = [m if include else {k: v for k, v in m.items() if k != "metadata"} for m in found]
        limit = int(params.get("limit") or 100)
        newest_first = list(reversed(shown))
        # Slack pages with an opaque cursor (response_metadata.next_cursor); here it encodes the offset.
        cursor = str(params.get("cursor") or "")
        start = int(base64.b64decode(cursor).decode().removeprefix("next:")) if cursor else 0
        page = newest_first[start:start + limit]
        more = start + limit < len(newest_first)
        next_cursor = base64.b64encode(f"next:{start + limit}".encode()).decode() if more else ""
        metadata = {"next_cursor": next_cursor}
        return {"ok": True, "messages": page, "has_more": more, "response_metadata": metadata}

    # -- Socket Mode -------------------------------------------------------------------------
    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws_connections += 1
        await ws.send_str(json.dumps({
            "type": "hello", "num_connections": 1,
            "debug_info": {"host": "fake-slack", "approximate_connection_time": 3600},
            "connection_info": {"app_id": "A0KAIRAN"},
        }))
        self._sockets.append(ws)
        await self._notify()
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                data = json.loads(msg.data)
                if "envelope_id" in data:
                    self.acks.append({**data, "_time": time.perf_counter()})
                    await self._notify()
        return ws
