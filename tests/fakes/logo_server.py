"""A local LoGo Chat (direct protocol) server, modelled on what the official client expects.

The model is the official MIT client direct-js 2.1.0 (npm), read for its wire protocol and checked
by ``tests/conformance/logo``, which runs that client against this server: the fake is only trusted
as far as the real client works against it. Usage::

    async with LogoFakeServer() as server:
        client = LogoClient(url=server.url, token=server.token, ...)
        await server.push_message(talk_id=GROUP_TALK, user_id=YAMADA, text="…")  # 山田 posts
        server.fail_next("create_message", code=429, message="too many requests", retry_after=0.2)
        await server.drop()                                   # the network goes away
        await server.close_sessions(reason="forcibly closed")  # the server ends the sessions

Protocol: MessagePack-RPC over a binary WebSocket. Requests ``[0, id, method, params]`` go both
ways (the server pushes notifications as requests, acked with ``[1, id, nil, true]``); responses are
``[1, id, error, result]`` with errors ``{code, message, detail}``. Strings are the old raw type
(direct-js's decoder does not know str8 or bin), ids are 64-bit (the server's ids are
uint64-sized, so they travel as uint64; direct-js decodes only those into its Int64 ids and
compares ids by their high/low words — a small id would make every message look like its own).

What it models, as direct-js uses it:

- Accounts, device tokens (``create_access_token`` → device authorization → ``create_session``),
  and the 401 answers of ``create_session``: "invalid token", "unauthorized device",
  "expired password", "deleted account".
- One session per token: a second ``create_session`` with the same token closes the first
  connection with code 1000 and reason "concurrent access"; ``close_sessions`` ends sessions with a
  reason such as "forcibly closed" (an administrator signing the device out).
- A notification queue per device: after ``start_notification`` the server keeps queueing for the
  device while it is away, and ``create_session`` answers ``notification: true`` while it still
  holds that queue (``start_notification`` then delivers it); ``reset_notification`` drops it and
  ``forget_notifications()`` makes the server forget every queue (``notification: false``).
- The data calls of direct-js's handshake (domains, announcement statuses, friends,
  acquaintances with their ``domain_id``, talks, talk statuses, account control, domain invites,
  user identifiers), messages with a per-recipient ``mention`` flag (set for the users the mention
  markup names; an assumption: the flag's rule for ``{@:ALL,4}@ALL`` is not visible in direct-js) and
  ``bot_message: true`` when a bot account posted (direct-js ignores those unless told to talk with
  bots), read statuses
  (``update_read_statuses`` → ``notify_update_read_statuses`` to the talk's members) and
  ``update_last_used_at``.
- The API version: the fake serves the 1.122 shapes only and refuses any other version (400
  "unsupported api version" is the fake's wording: how the real server answers is not public).

Everything the server receives is recorded (method, params, time, connection, user, raw bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgpack
from aiohttp import WSMsgType, web

from tests.fakes.local_http import LocalServer

API_VERSION = "1.122"  # what direct-js 2.1.0 sends in create_session
DOMAIN_ID = 203_857_388_862_701_569
BOT_ID = 154_223_713_582_055_441  # the low 32 bits have the sign bit set, as real ids may
YAMADA = 154_223_713_582_055_681
SATO = 154_223_713_582_055_682
OTHER_BOT = 154_223_713_582_055_683
PAIR_TALK = 203_857_391_010_185_217  # 1:1 talk between the bot and 山田 太郎
GROUP_TALK = 203_857_391_010_185_218  # group talk 福祉部
UNMAPPED_TALK = 203_857_391_010_185_219  # group talk 雑談, not in the manifest
TIMESTAMP_SHIFT = 22  # direct-js: a message id holds its time (ms) above the low 22 bits
USERS = {BOT_ID: "回覧板", YAMADA: "山田 太郎", SATO: "佐藤 花子", OTHER_BOT: "別ボット"}
BOTS = {BOT_ID, OTHER_BOT}
TOKEN = "kairan-test-token-0123456789abcdefghijklmnopq"  # 45 chars: packed as raw16 (0xda)
YAMADA_TOKEN = "yamada-test-token-0123456789abcdefghijklmnop"
UINT32_MAX = 2**32 - 1
MENTION = re.compile(r"\{@:(ALL|\d+),(\d+)\}@")  # direct-js's own pattern


def pack(obj: Any) -> bytes:
    """Old raw strings; ints in the smallest type, so the uint64-sized ids are uint64."""
    return msgpack.packb(obj, use_bin_type=False)


def check_ids(obj: Any, key: str = "") -> None:
    """Raise ValueError for an id below 2**32 in a payload (``*_id``/``*_ids`` fields)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            check_ids(v, str(k))
    elif isinstance(obj, list):
        for v in obj:
            check_ids(v, key)
    elif key.endswith(("_id", "_ids")) and type(obj) is int and 0 <= obj <= UINT32_MAX:
            raise ValueError(f"{key}={obj}: LoGo ids are uint64-sized; a small id breaks direct-js")


def mentioned_ids(text: str) -> set[int]:
    """User ids named by mention markup (``{@:ALL,4}@ALL`` names nobody in particular)."""
    return {int(m.group(1)) for m in MENTION.finditer(text) if m.group(1) != "ALL"}


@dataclass
class Call:
    method: str
    params: list[Any]
    at: float
    connection: int
    frame: bytes
    user_id: int | None = None  # the session's user when the call came
    ok: bool = False  # answered without an error


@dataclass
class Talk:
    talk_id: int
    type: int  # 1 pair, 2 group
    user_ids: list[int]
    name: str = ""

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "talk_id": self.talk_id, "domain_id": DOMAIN_ID, "type": self.type,
            "user_ids": list(self.user_ids), "updated_at": _now_ms(), "left_users": [],
        }
        if self.type == 2:
            out["talk_name"] = self.name
        return out


@dataclass
class Device:
    """One access token: its user, its authorization, its notification queue."""

    token: str
    user_id: int
    idfv: str = ""
    authorized: bool = True
    revoked: bool = False
    keeps_notifications: bool = False  # the server queues for it while it is away
    queue: deque[tuple[int, str, Any]] = field(default_factory=deque)
    connection: _Connection | None = None


@dataclass
class _Connection:
    number: int
    ws: web.WebSocketResponse
    request: web.Request
    device: Device | None = None
    notifying: bool = False
    # (code, reason) when the server ends the session; the connection's own task sends the close
    # frame and waits for the client's, so the client hears the reason (a close from another task
    # would drop the TCP connection before the client could answer).
    close: asyncio.Future[tuple[int, str]] = field(default_factory=lambda: _loop().create_future())
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Failure:
    code: int
    message: str
    detail: dict[str, Any] | None


class _RpcFault(Exception):
    def __init__(self, code: int, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _user(user_id: int) -> dict[str, Any]:
    name = USERS.get(user_id, str(user_id))
    return {
        "user_id": user_id, "display_name": name, "canonical_display_name": name,
        "phonetic_display_name": "", "canonical_phonetic_display_name": "", "status": 0,
        "profile_image_url": "", "updated_at": 1_700_000_000_000,
    }


class LogoFakeServer(LocalServer):
    def __init__(
        self,
        *,
        get_messages_supported: bool = True,
        device_code: str = "123456",
        accounts: dict[str, tuple[str, int]] | None = None,
    ) -> None:
        self.get_messages_supported = get_messages_supported
        self.unanswered: set[str] = set()  # methods the server never answers (a stuck server)
        self.device_code = device_code
        # login (e-mail or id$group) → (password, user id)
        self.accounts = accounts or {"admin@example.lg.jp": ("pass-word", BOT_ID)}
        self.calls: list[Call] = []
        self.acks: dict[int, list[Any]] = {}  # notification id → ack frame
        self.messages: list[dict[str, Any]] = []  # as stored (no per-recipient fields)
        self.connections = 0
        self.close_reasons: list[tuple[int, int, str]] = []  # (connection, code, reason) the server sent
        self.deleted: set[int] = set()  # user ids whose account is deleted
        self.password_expired: set[int] = set()
        # user id → the session's password_expiration ({expiration, warning}: ms since the epoch)
        self.password_expiration: dict[int, dict[str, int]] = {}
        self.read_up_to: dict[tuple[int, int], int] = {}  # (user id, talk id) → newest message id read
        self.talks = {
            PAIR_TALK: Talk(PAIR_TALK, 1, [BOT_ID, YAMADA]),
            GROUP_TALK: Talk(GROUP_TALK, 2, [BOT_ID, YAMADA, SATO, OTHER_BOT], "福祉部"),
            UNMAPPED_TALK: Talk(UNMAPPED_TALK, 2, [BOT_ID, SATO], "雑談"),
        }
        self.devices: dict[str, Device] = {}
        self.add_device(TOKEN, BOT_ID)
        self.add_device(YAMADA_TOKEN, YAMADA)
        self._failures: dict[str, deque[_Failure]] = {}
        self._open: list[_Connection] = []
        self._last_message_id = 0
        self._push_ids = itertools.count(1)

    # -- lifecycle ---------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api", self._ws)
        return app

    async def closing(self) -> None:
        await self.drop()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api"

    @property
    def token(self) -> str:
        """The bot's first token."""
        return TOKEN

    # -- controls ------------------------------------------------------------------------------
    def add_device(self, token: str, user_id: int, *, idfv: str = "", authorized: bool = True) -> Device:
        device = Device(token=token, user_id=user_id, idfv=idfv, authorized=authorized)
        self.devices[token] = device
        return device

    def new_token(self, user_id: int = BOT_ID) -> str:
        """Another authorized device token for a user (a second replica, another login)."""
        token = f"device-{len(self.devices) + 1}-{user_id}"
        self.add_device(token, user_id)
        return token

    def fail_next(
        self, method: str, *, code: int, message: str, retry_after: float | None = None, times: int = 1
    ) -> None:
        detail = {"retry_after": retry_after} if retry_after is not None else None
        queue = self._failures.setdefault(method, deque())
        queue.extend(_Failure(code, message, detail) for _ in range(times))

    async def drop(self, *, user_id: int | None = None) -> None:
        """Cut open connections (every one, or one user's) as a network failure would (no close frame)."""
        for conn in list(self._open):
            if user_id is not None and (conn.device is None or conn.device.user_id != user_id):
                continue
            if conn.request.transport is not None:
                conn.request.transport.abort()
            await conn.done.wait()

    async def close_sessions(self, *, reason: str, user_id: int | None = BOT_ID, code: int = 1000) -> None:
        """The server ends sessions with a reason ("forcibly closed", "concurrent access")."""
        for conn in list(self._open):
            if conn.device is not None and (user_id is None or conn.device.user_id == user_id):
                await self._close(conn, code, reason)

    def revoke(self, token: str) -> None:
        """The token stops working (its next create_session gets 401 "invalid token")."""
        self.devices[token].revoked = True

    def forget_notifications(self) -> None:
        """The server drops every device's queue (create_session then says notification: false)."""
        for device in self.devices.values():
            device.keeps_notifications = False
            device.queue.clear()

    def store_message(
        self, *, talk_id: int, user_id: int, text: str, bot: bool | None = None, kind: int = 1
    ) -> dict[str, Any]:
        """Store a message without notifying anyone (a message the client can only fetch)."""
        payload: dict[str, Any] = {
            "message_id": self._next_message_id(),
            "talk_id": talk_id,
            "user_id": user_id,
            "type": kind,
            "content": text,
            "created_at": _now_ms(),
        }
        if (user_id in BOTS) if bot is None else bot:
            payload["bot_message"] = True
        check_ids(payload)
        self.messages.append(payload)
        return payload

    def _next_message_id(self) -> int:
        """Increasing, with the time in the high bits (about 2**62: more than a JavaScript number holds)."""
        self._last_message_id = max(self._last_message_id + 1, _now_ms() << TIMESTAMP_SHIFT)
        return self._last_message_id

    async def push(self, method: str, payload: Any, *, user_id: int = BOT_ID) -> int | None:
        """Notify one user's devices; returns the notification id of the first device (None: none)."""
        check_ids(payload)
        ids = await self._notify([user_id], method, lambda _: payload)
        return ids.get(user_id)

    async def push_message(
        self, *, talk_id: int, user_id: int, text: str, bot: bool | None = None
    ) -> tuple[dict[str, Any], int | None]:
        """``user_id`` posts ``text``: stored and notified to the talk's members. Returns the message
        as notified to the bot and the id of that notification (None when the bot was not notified)."""
        message = self.store_message(talk_id=talk_id, user_id=user_id, text=text, bot=bot)
        ids = await self._notify_message(message)
        return self.as_seen_by(BOT_ID, message), ids.get(BOT_ID)

    def as_seen_by(self, user_id: int, message: dict[str, Any]) -> dict[str, Any]:
        """A message as the server sends it to one user: with its ``mention`` flag."""
        text = message["content"] if isinstance(message.get("content"), str) else ""
        return message | {"mention": user_id in mentioned_ids(text)}

    # -- queries -----------------------------------------------------------------------------------
    def methods(self, connection: int | None = None) -> list[str]:
        return [c.method for c in self.calls if connection is None or c.connection == connection]

    def sent(self, talk_id: int | None = None, *, user_id: int | None = BOT_ID) -> list[Call]:
        """create_message calls that succeeded (the bot's, unless ``user_id`` says), in order."""
        return [
            c for c in self.calls
            if c.method == "create_message" and c.ok and (talk_id is None or c.params[0] == talk_id)
            and (user_id is None or c.user_id == user_id)
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
        conn = _Connection(self.connections, ws, request)
        self._open.append(conn)
        try:
            while True:
                frame = await self._next_frame(conn)
                if frame is None or frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    break
                if frame.type == WSMsgType.ERROR:
                    break
                if frame.type != WSMsgType.BINARY:
                    await ws.close(code=1003, message=b"binary frames only")
                    break
                message = msgpack.unpackb(frame.data, raw=False, strict_map_key=False)
                if message[0] == 1:  # an ack of a pushed notification
                    self.acks[message[1]] = message
                    continue
                _, msgid, method, params = message
                user = conn.device.user_id if conn.device is not None else None
                call = Call(method, params, time.monotonic(), conn.number, frame.data, user)
                self.calls.append(call)
                if method in self.unanswered:
                    continue
                error, result = await self._answer(conn, call)
                call.ok = error is None
                if not ws.closed:
                    await ws.send_bytes(pack([1, msgid, error, result]))
                if call.ok and method == "start_notification":
                    await self._start_notification(conn)
        finally:
            self._open.remove(conn)
            if conn.device is not None and conn.device.connection is conn:
                conn.device.connection = None
            conn.done.set()
        return ws

    async def _next_frame(self, conn: _Connection) -> Any:
        """The next frame from the client, or None once the server has closed the connection."""
        receiving = asyncio.ensure_future(conn.ws.receive())
        either: set[asyncio.Future[Any]] = {receiving, conn.close}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if receiving.done():
            return receiving.result()
        receiving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiving
        code, reason = conn.close.result()
        await conn.ws.close(code=code, message=reason.encode())
        return None

    async def _close(self, conn: _Connection, code: int, reason: str) -> None:
        """End a session with a close frame carrying ``reason``; returns once the connection is gone."""
        self.close_reasons.append((conn.number, code, reason))
        conn.notifying = False
        if not conn.close.done():
            conn.close.set_result((code, reason))
        await conn.done.wait()

    async def _answer(self, conn: _Connection, call: Call) -> tuple[dict[str, Any] | None, Any]:
        queue = self._failures.get(call.method)
        if queue:
            failure = queue.popleft()
            return {"code": failure.code, "message": failure.message, "detail": failure.detail}, None
        handler = getattr(self, f"_rpc_{call.method}", None)
        if handler is None or (call.method == "get_messages" and not self.get_messages_supported):
            return {"code": 400, "message": "method not found", "detail": None}, None
        needs_session = call.method not in _SESSIONLESS
        if needs_session and conn.device is None:
            return {"code": 401, "message": "invalid session", "detail": None}, None
        try:
            inspect.signature(handler).bind(conn, *call.params)
        except TypeError as exc:  # the wrong number of parameters
            return {"code": 400, "message": "invalid parameter", "detail": {"error": str(exc)}}, None
        try:
            result = handler(conn, *call.params)
            if inspect.isawaitable(result):
                result = await result
            return None, result
        except _RpcFault as fault:
            return {"code": fault.code, "message": fault.message, "detail": fault.detail}, None

    async def _start_notification(self, conn: _Connection) -> None:
        device = conn.device
        assert device is not None
        conn.notifying = True
        device.keeps_notifications = True
        while device.queue and not conn.ws.closed:
            push_id, method, payload = device.queue.popleft()
            await conn.ws.send_bytes(pack([0, push_id, method, [payload]]))

    async def _notify(
        self, user_ids: Iterable[int], method: str, payload_for: Callable[[int], Any]
    ) -> dict[int, int]:
        """Send (or queue) a notification to every device of the users; {user id: first push id}."""
        first: dict[int, int] = {}
        for device in list(self.devices.values()):
            if device.user_id not in user_ids or device.revoked:
                continue
            conn = device.connection
            live = conn is not None and conn.notifying and not conn.ws.closed
            if not live and not device.keeps_notifications:
                continue
            push_id = next(self._push_ids)
            first.setdefault(device.user_id, push_id)
            payload = payload_for(device.user_id)
            if live and conn is not None:
                await conn.ws.send_bytes(pack([0, push_id, method, [payload]]))
            else:
                device.queue.append((push_id, method, payload))
        return first

    async def _notify_message(self, message: dict[str, Any]) -> dict[int, int]:
        talk = self.talks[message["talk_id"]]
        return await self._notify(
            talk.user_ids, "notify_create_message", lambda uid: self.as_seen_by(uid, message)
        )

    def _session_user(self, conn: _Connection) -> int:
        assert conn.device is not None
        return conn.device.user_id

    def _visible_talks(self, conn: _Connection) -> list[Talk]:
        me = self._session_user(conn)
        return [t for t in self.talks.values() if me in t.user_ids]

    # -- login and session -------------------------------------------------------------------------
    def _rpc_create_access_token(
        self, conn: _Connection, login: str, password: str, idfv: str, agent: str, _: str
    ) -> str:
        account = self.accounts.get(login)
        if account is None or account[0] != password:
            raise _RpcFault(401, "invalid email or password")
        token = f"issued-{sum(1 for t in self.devices if t.startswith('issued-')) + 1}-{idfv}"
        self.add_device(token, account[1], idfv=idfv, authorized=False)
        return token

    def _rpc_create_access_token_by_id(
        self, conn: _Connection, group: str, signin_id: str, password: str, idfv: str, agent: str, _: str
    ) -> str:
        return self._rpc_create_access_token(conn, f"{signin_id}${group}", password, idfv, agent, _)

    def _rpc_authorize_device(self, conn: _Connection, code: str, idfv: str) -> bool:
        if code != self.device_code:
            raise _RpcFault(400, "invalid code")
        for device in self.devices.values():
            if device.idfv == idfv:
                device.authorized = True
        return True

    async def _rpc_create_session(
        self, conn: _Connection, token: str, api_version: str, agent: str | None = None
    ) -> dict[str, Any]:
        if api_version != API_VERSION:
            raise _RpcFault(400, "unsupported api version", {"supported": [API_VERSION]})
        device = self.devices.get(token)
        if device is None or device.revoked:
            raise _RpcFault(401, "invalid token")
        if device.user_id in self.deleted:
            raise _RpcFault(401, "deleted account")
        if device.user_id in self.password_expired:
            raise _RpcFault(401, "expired password")
        if not device.authorized:
            raise _RpcFault(401, "unauthorized device")
        previous = device.connection
        if previous is not None and previous is not conn and not previous.ws.closed:
            await self._close(previous, 1000, "concurrent access")
        device.connection = conn
        conn.device = device
        conn.notifying = False
        return {
            "user": _user(device.user_id) | {"email": f"{device.user_id}@example.lg.jp"},
            "configuration": {
                "max_message_content_length": 1024, "max_friends": 1000, "max_talks": 1000,
                "max_talkers": 1000, "allow_attachment_type": 0,
            },
            "device": {"device_id": 700_000_000_000 + len(self.devices)},
            "notification": device.keeps_notifications,
            "password_expiration": self.password_expiration.get(device.user_id, {}),
        }

    def _rpc_reset_notification(self, conn: _Connection) -> bool:
        assert conn.device is not None
        conn.device.queue.clear()
        return True

    def _rpc_start_notification(self, conn: _Connection) -> bool:
        return True  # delivery of the queue starts once the answer has gone out

    def _rpc_update_last_used_at(self, conn: _Connection) -> None:
        return None

    # -- the data of direct-js's handshake ---------------------------------------------------------------
    def _rpc_get_domains(self, conn: _Connection) -> list[dict[str, Any]]:
        return [{
            "domain_id": DOMAIN_ID,
            "updated_at": 1_700_000_000_000,
            "domain": {"domain_name": "横須賀市", "frozen": False},
            "contract": {"plan": {"plan_name": "standard"}, "quota": {}},
            "profile_definition": {"domain_id": DOMAIN_ID, "item_definitions": []},
            "setting": {"allow_attachment_type": 0, "contact_tree_enabled": False},
            "role": {"type": 30, "allow_list_users": True},
            "direct_apps_setting": {"enabled": []},
        }]

    def _rpc_get_domain_invites(self, conn: _Connection) -> list[Any]:
        return []

    def _rpc_get_account_control_requests(self, conn: _Connection) -> list[Any]:
        return []

    def _rpc_get_joined_account_control_group(self, conn: _Connection) -> list[Any]:
        return []

    def _rpc_get_announcement_statuses(self, conn: _Connection) -> list[dict[str, Any]]:
        # One per domain: direct-js's handshake waits for a status of every domain it belongs to.
        return [{"domain_id": DOMAIN_ID, "unread_count": 0}]

    def _rpc_get_friends(self, conn: _Connection) -> list[list[Any]]:
        return [[DOMAIN_ID, []]]

    def _rpc_get_acquaintances(self, conn: _Connection) -> list[list[Any]]:
        """[[domain_id, [user, …]]]: everyone sharing a talk with the session's user, each with domain_id."""
        me = self._session_user(conn)
        ids = sorted({u for t in self._visible_talks(conn) for u in t.user_ids} - {me})
        return [[DOMAIN_ID, [_user(uid) | {"domain_id": DOMAIN_ID} for uid in ids]]]

    def _rpc_get_user_identifiers(
        self, conn: _Connection, domain_id: int, user_ids: list[int]
    ) -> dict[str, Any]:
        return {"contents": [{"user_id": uid, "signin_id": f"user{uid % 1000}"} for uid in user_ids]}

    def _rpc_get_talks(self, conn: _Connection) -> list[dict[str, Any]]:
        return [t.record() for t in self._visible_talks(conn)]

    def _rpc_get_talk_statuses(self, conn: _Connection) -> list[dict[str, Any]]:
        me = self._session_user(conn)
        statuses = []
        for talk in self._visible_talks(conn):
            ids = [m["message_id"] for m in self.messages if m["talk_id"] == talk.talk_id]
            read = self.read_up_to.get((me, talk.talk_id))
            status: dict[str, Any] = {"talk_id": talk.talk_id, "unread_count": 0, "unread_mention_count": 0}
            if ids:
                status["max_message_id"] = max(ids)
                status["unread_count"] = sum(1 for i in ids if read is None or i > read)
            if read is not None:
                status["max_read_message_id"] = read
            statuses.append(status)
        return statuses

    # -- messages ------------------------------------------------------------------------------------------
    async def _rpc_create_message(
        self, conn: _Connection, talk_id: int, kind: int, content: Any
    ) -> dict[str, Any]:
        me = self._session_user(conn)
        talk = self.talks.get(talk_id)
        if talk is None or me not in talk.user_ids:
            raise _RpcFault(403, "forbidden")
        message = self.store_message(talk_id=talk_id, user_id=me, text=content, kind=kind)
        await self._notify_message(message)
        return self.as_seen_by(me, message)

    def _rpc_get_messages(
        self, conn: _Connection, talk_id: int, count: int, since_id: int | None, max_id: int | None,
        order: int,
    ) -> list[dict[str, Any]]:
        me = self._session_user(conn)
        found = [
            m for m in self.messages
            if m["talk_id"] == talk_id and (since_id is None or m["message_id"] > since_id)
            and (max_id is None or m["message_id"] <= max_id)
        ]
        found.sort(key=lambda m: m["message_id"], reverse=order != 1)
        return [self.as_seen_by(me, m) for m in found[:count]]

    async def _rpc_update_read_statuses(
        self, conn: _Connection, talk_id: int, max_read_message_id: int
    ) -> bool:
        """The session's user has read the talk up to a message: its members hear which messages."""
        me = self._session_user(conn)
        talk = self.talks.get(talk_id)
        if talk is None or me not in talk.user_ids:
            raise _RpcFault(403, "forbidden")
        before = self.read_up_to.get((me, talk_id), 0)
        if max_read_message_id <= before:
            return True
        self.read_up_to[(me, talk_id)] = max_read_message_id
        newly = [
            m["message_id"] for m in self.messages
            if m["talk_id"] == talk_id and m["user_id"] != me
            and before < m["message_id"] <= max_read_message_id
        ]
        if newly:
            update = {
                "talk_id": talk_id, "message_ids": newly, "read_user_ids": [me], "mention_message_ids": [],
            }
            await self._notify(talk.user_ids, "notify_update_read_statuses", lambda _: update)
        return True


_SESSIONLESS = {"create_access_token", "create_access_token_by_id", "authorize_device", "create_session"}
