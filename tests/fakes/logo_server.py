"""A local LoGo Chat (direct protocol) server: MessagePack-RPC over a real WebSocket.

Usage::

    async with LogoFakeServer() as server:
        client = LogoClient(url=server.url, token=server.token, ...)
        await server.push_message(talk_id=GROUP_TALK, user_id=YAMADA, text="…")
        server.fail_next("create_message", code=429, message="too many requests", retry_after=0.2)
        await server.drop()  # forced disconnect

It speaks the subset kairan uses, with the shapes of the public direct clients: requests
``[0, id, method, params]``, responses ``[1, id, error, result]``, errors ``{code, message,
detail}``, notifications pushed as requests that the client must ack with ``[1, id, nil,
true]``. Strings are packed in the old raw format (``use_bin_type=False``) like direct-js.
Everything the server receives is recorded (method, params, time, connection, raw bytes).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack
from aiohttp import WSMsgType, web

BOT_ID = 9001
DOMAIN_ID = 10
PAIR_TALK = 100  # 1:1 talk between the bot and 山田 太郎
GROUP_TALK = 200  # group talk 福祉部
UNMAPPED_TALK = 300  # group talk not in the manifest
YAMADA = 501
SATO = 502
OTHER_BOT = 777
USERS = {YAMADA: "山田 太郎", SATO: "佐藤 花子", OTHER_BOT: "別ボット"}
TOKEN = "kairan-test-token-0123456789abcdefghijklmnopq"  # 45 chars: packed as raw16 (0xda)


@dataclass
class Call:
    method: str
    params: list[Any]
    at: float
    connection: int
    frame: bytes
    ok: bool = False  # answered without an error


@dataclass
class _Failure:
    code: int
    message: str
    detail: dict[str, Any] | None


@dataclass
class LogoFakeServer:
    token: str = TOKEN
    get_messages_supported: bool = True
    accounts: dict[str, str] = field(default_factory=lambda: {"admin@example.lg.jp": "pass-word"})
    device_code: str = "123456"
    calls: list[Call] = field(default_factory=list)
    acks: dict[int, list[Any]] = field(default_factory=dict)  # notification id → ack frame
    messages: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self._failures: dict[str, deque[_Failure]] = {}
        self._sockets: list[web.WebSocketResponse] = []
        self._ids = itertools.count(1000)
        self._push_ids = itertools.count(1)
        self._issued: dict[str, str] = {}  # token → idfv, awaiting device authorization
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> LogoFakeServer:
        app = web.Application()
        app.router.add_get("/api", self._ws)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.drop()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api"

    # -- controls ------------------------------------------------------------------------------
    def fail_next(
        self, method: str, *, code: int, message: str, retry_after: float | None = None, times: int = 1
    ) -> None:
        detail = {"retry_after": retry_after} if retry_after is not None else None
        queue = self._failures.setdefault(method, deque())
        queue.extend(_Failure(code, message, detail) for _ in range(times))

    async def drop(self) -> None:
        """Close every open client connection (a forced disconnect)."""
        for ws in list(self._sockets):
            await ws.close()

    def store_message(
        self, *, talk_id: int, user_id: int, text: str, message_id: int | None = None, bot: bool = False
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "message_id": message_id if message_id is not None else next(self._ids),
            "talk_id": talk_id,
            "user_id": user_id,
            "type": 1,
            "content": text,
            "created_at": int(time.time() * 1000),
        }
        if bot:
            payload["bot_message"] = True
        self.messages.append(payload)
        return payload

    async def push(self, method: str, payload: Any) -> int:
        """Push one notification to every connection; returns its request id."""
        push_id = next(self._push_ids)
        frame = msgpack.packb([0, push_id, method, [payload]], use_bin_type=False)
        for ws in list(self._sockets):
            await ws.send_bytes(frame)
        return push_id

    async def push_message(
        self, *, talk_id: int, user_id: int, text: str, bot: bool = False
    ) -> tuple[dict[str, Any], int]:
        payload = self.store_message(talk_id=talk_id, user_id=user_id, text=text, bot=bot)
        return payload, await self.push("notify_create_message", payload)

    # -- queries -----------------------------------------------------------------------------------
    def methods(self, connection: int | None = None) -> list[str]:
        return [c.method for c in self.calls if connection is None or c.connection == connection]

    def sent(self, talk_id: int | None = None) -> list[Call]:
        """create_message calls that succeeded, in order."""
        return [
            c for c in self.calls
            if c.method == "create_message" and c.ok and (talk_id is None or c.params[0] == talk_id)
        ]

    def attempts(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s; calls so far: {self.methods()}")
            await asyncio.sleep(0.01)

    # -- protocol ------------------------------------------------------------------------------------
    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        connection = self.connections
        self._sockets.append(ws)
        try:
            async for frame in ws:
                if frame.type != WSMsgType.BINARY:
                    await ws.close(code=1003, message=b"binary frames only")
                    break
                message = msgpack.unpackb(frame.data, raw=False)
                if message[0] == 1:  # an ack of a pushed notification
                    self.acks[message[1]] = message
                    continue
                _, msgid, method, params = message
                call = Call(method, params, time.monotonic(), connection, frame.data)
                self.calls.append(call)
                error, result = self._answer(call)
                call.ok = error is None
                await ws.send_bytes(msgpack.packb([1, msgid, error, result], use_bin_type=False))
        finally:
            self._sockets.remove(ws)
        return ws

    def _answer(self, call: Call) -> tuple[dict[str, Any] | None, Any]:
        queue = self._failures.get(call.method)
        if queue:
            failure = queue.popleft()
            return {"code": failure.code, "message": failure.message, "detail": failure.detail}, None
        handler = getattr(self, f"_rpc_{call.method}", None)
        if handler is None or (call.method == "get_messages" and not self.get_messages_supported):
            return {"code": 404, "message": "method not found", "detail": None}, None
        try:
            return None, handler(*call.params)
        except _RpcFault as fault:
            return {"code": fault.code, "message": fault.message, "detail": None}, None

    def _rpc_create_session(self, token: str, api_version: str, agent: str) -> dict[str, Any]:
        if token in self._issued:
            raise _RpcFault(401, "unauthorized device")
        if token != self.token:
            raise _RpcFault(401, "invalid access token")
        return {
            "user": {"user_id": BOT_ID, "display_name": "回覧板", "canonical_display_name": "カイランバン"},
            "configuration": {"max_message_content_length": 1024},
            "device": {"device_id": 1},
            "notification": False,
        }

    def _rpc_reset_notification(self) -> bool:
        return True

    def _rpc_start_notification(self) -> bool:
        return True

    def _rpc_get_domains(self) -> list[dict[str, Any]]:
        return [{"domain_id": DOMAIN_ID, "domain": {"domain_name": "横須賀市"}}]

    def _rpc_get_talks(self) -> list[dict[str, Any]]:
        return [
            {"talk_id": PAIR_TALK, "domain_id": DOMAIN_ID, "type": 1, "user_ids": [BOT_ID, YAMADA]},
            {"talk_id": GROUP_TALK, "domain_id": DOMAIN_ID, "type": 2, "talk_name": "福祉部",
             "user_ids": [BOT_ID, YAMADA, SATO, OTHER_BOT]},
            {"talk_id": UNMAPPED_TALK, "domain_id": DOMAIN_ID, "type": 2, "talk_name": "雑談",
             "user_ids": [BOT_ID, SATO]},
        ]

    def _rpc_get_acquaintances(self) -> list[list[Any]]:
        users = [{"user_id": uid, "display_name": name} for uid, name in USERS.items()]
        return [[DOMAIN_ID, users]]

    def _rpc_create_message(self, talk_id: int, kind: int, content: Any) -> dict[str, Any]:
        return self.store_message(talk_id=talk_id, user_id=BOT_ID, text=content) | {"type": kind}

    def _rpc_get_messages(
        self, talk_id: int, count: int, since_id: int | None, max_id: int | None, order: int
    ) -> list[dict[str, Any]]:
        found = [
            m for m in self.messages
            if m["talk_id"] == talk_id and (since_id is None or m["message_id"] > since_id)
            and (max_id is None or m["message_id"] <= max_id)
        ]
        found.sort(key=lambda m: m["message_id"], reverse=order != 1)
        return found[:count]

    def _rpc_create_access_token(self, login: str, password: str, idfv: str, agent: str, _: str) -> str:
        if self.accounts.get(login) != password or agent != "bot":
            raise _RpcFault(401, "invalid email or password")
        token = f"issued-{len(self._issued) + 1}-{idfv}"
        self._issued[token] = idfv
        return token

    def _rpc_create_access_token_by_id(
        self, group: str, signin_id: str, password: str, idfv: str, agent: str, _: str
    ) -> str:
        return self._rpc_create_access_token(f"{signin_id}${group}", password, idfv, agent, _)

    def _rpc_authorize_device(self, code: str, idfv: str) -> bool:
        if code != self.device_code:
            raise _RpcFault(400, "invalid code")
        for token, device in list(self._issued.items()):
            if device == idfv:
                del self._issued[token]
                self.token = token
        return True


class _RpcFault(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
