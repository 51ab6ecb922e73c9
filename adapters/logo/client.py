"""A LoGo Chat (L is B "direct" protocol) bot client: MessagePack-RPC over a binary WebSocket.

Frames (MessagePack arrays; as direct-js sends them, strings in the old raw format and ids as uint64):

- request  ``[0, msgid, method, params]`` (both directions: the server pushes notifications
  as requests, the client acks each one with ``[1, msgid, nil, true]``)
- response ``[1, msgid, error, result]``; ``error`` is a map ``{code, message, detail}`` and
  ``detail.retry_after`` (seconds) accompanies 429 "too many requests" and 503 errors.

The official client direct-js 2.1.0 is the reference; where this client differs, a comment says why.

Session: ``create_session(token, LOGO_API_VERSION, "bot")`` (``open_session``) → ``reset_notification``
→ ``get_domains`` → ``get_talks`` → ``get_talk_statuses`` → (``get_acquaintances`` for display
names, optional) → ``start_notification`` → ``update_last_used_at`` (again every 10 minutes, as
direct-js does). When create_session answers ``notification: true``
after a lost connection, the server has kept the bot's notifications: straight to
``start_notification``. direct-js also fetches friends, announcement statuses, account control
and domain invites; the bot uses none of them, so it does not ask. Keep-alive uses WebSocket ping
frames; a lost connection is re-established, backing off from 3 s doubling to 45 s; a session the
server did not resume is followed by ``get_messages`` for the talks with newer messages. LoGo
ending the session for good (close reasons "concurrent access", "forcibly closed"; create_session's
401s) stops the client with what the operator must do (``SessionEnded``). Messages are sent one at
a time, spaced by ``send_interval`` and retried after ``retry_after``.

Unconfirmed details stay parameters: the message count and order code
of ``get_messages`` (``[talk_id, count, since_id, max_id, order]``, 1 = ascending).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import msgpack

from manifest.schema import LOGO_API_VERSION

log = logging.getLogger(__name__)

REQUEST = 0
RESPONSE = 1
AGENT = "bot"
TEXT_MESSAGE = 1
PAIR_TALK = 1
GROUP_TALK = 2
ORDER_ASC = 1
MAX_RETRY_AFTER_S = 300.0

NotificationHandler = Callable[[str, Any], None]


class LogoError(Exception):
    """Base class of the LoGo client's errors."""


class ProtocolError(LogoError):
    """A frame that is not valid MessagePack-RPC."""


class ConnectionLost(LogoError):
    """The WebSocket closed (or is not open) while a call was pending."""


# What an operator must do when LoGo ends the bot's session for good: Japanese first, then English.
# Keyed by the server's close reason or 401 message, as the official client tells them apart.
ENDINGS: dict[str, tuple[str, str]] = {
    "concurrent access": (
        "同じアクセストークンで別の接続が始まったため、LoGoチャットがこの接続を切断しました。"
        "このボットは再接続しません。ボットを複数起動するときは、起動するものごとに kairan logo login で"
        "別のトークンを取得してください。",
        "LoGo closed this connection because another one started with the same access token; this bot "
        "does not reconnect. Give every running bot its own token (kairan logo login).",
    ),
    "forcibly closed": (
        "LoGoチャットがこのボットのセッションを強制終了しました（管理者による端末のログアウトなど）。"
        "kairan logo login でトークンを取り直し、platforms.logo.token_env の環境変数に設定して"
        "再起動してください。",
        "LoGo forcibly closed the bot's session (an administrator signed the device out, for example): "
        "get a new token with kairan logo login, put it into the variable platforms.logo.token_env names "
        "and restart.",
    ),
    # create_session's 401 answers, which direct-js tells apart:
    "invalid token": (
        "アクセストークンが無効です（失効した、ログアウトされた、別のサーバーのもの など）。"
        "kairan logo login で新しいトークンを取得し、platforms.logo.token_env の環境変数に設定して"
        "再起動してください。",
        "the access token is invalid (revoked, signed out or from another server): get a new one with "
        "kairan logo login, put it into the variable platforms.logo.token_env names and restart.",
    ),
    "unauthorized device": (
        "このトークンの端末は認証されていません。kairan logo login をやり直し、LoGoチャットに表示される"
        "端末認証コードを入力してください。",
        "the token's device is not authorized: run kairan logo login again and enter the device "
        "authorization code LoGo shows.",
    ),
    "expired password": (
        "ボットのアカウントのパスワードの有効期限が切れています。LoGoチャットでパスワードを変更してから "
        "kairan logo login をやり直してください。",
        "the bot account's password has expired: change it in LoGo Chat, then run kairan logo login again.",
    ),
    "deleted account": (
        "ボットのアカウントは LoGoチャットで削除されています。管理者にボット用のアカウントを用意してもらい、"
        "kairan logo login でログインしてください。",
        "the bot account has been deleted in LoGo Chat: ask the administrator for a bot account and sign "
        "in with kairan logo login.",
    ),
}
SESSION_ENDING_CLOSES = (1000, 1005)  # the close codes direct-js reads a reason from
INVALID_TOKEN = "invalid token"
TOKEN_RETRIES = 3  # direct-js: "invalid token" is tried again three times, a second apart


class SessionEnded(ConnectionLost):
    """LoGo ended the bot's session for good (close reason or 401): the client stops, as direct-js
    does; ``str()`` is the operator's instruction, Japanese first."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        ja, en = ENDINGS.get(reason, ("LoGoチャットがセッションを終了しました。", "LoGo ended the session."))
        super().__init__(f"{ja} / {en} (LoGo: {reason})")


class RpcError(LogoError):
    """The server answered a call with an error map."""

    def __init__(self, method: str, error: Any) -> None:
        self.method = method
        err = normalize(error)
        self.code: int | None = err.get("code") if isinstance(err, dict) else None
        self.message: str = str(err.get("message", "")) if isinstance(err, dict) else str(err)
        detail = err.get("detail") if isinstance(err, dict) else None
        self.detail: Any = detail
        super().__init__(f"{method} failed: {self.code} {self.message}".strip())

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked to wait (429 / 503), capped; None when it did not say."""
        value = self.detail.get("retry_after") if isinstance(self.detail, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return min(max(float(value), 0.0), MAX_RETRY_AFTER_S)

    @property
    def retryable(self) -> bool:
        return self.code in (429, 503)


# -- codec ---------------------------------------------------------------------------------------


class Id(int):
    """A LoGo id (user, talk, message, domain): packed as 64 bits whatever its value.

    direct-js holds ids as Int64 and always writes them as uint64 (int64 when the top bit is set);
    the server's ids are that wide, so a narrow encoding would only ever differ from it on small ids.
    """


_HEADERS = msgpack.Packer(use_bin_type=False)


def pack(obj: Any) -> bytes:
    """Encode like direct-js: strings in the old raw format (no bin/str8 types), ``Id`` in 64 bits,
    other integers in the smallest type."""
    if isinstance(obj, Id):
        return (b"\xd3" if obj < 0 or obj >= 2**63 else b"\xcf") + (obj % 2**64).to_bytes(8, "big")
    if isinstance(obj, list | tuple):
        return _HEADERS.pack_array_header(len(obj)) + b"".join(pack(v) for v in obj)
    if isinstance(obj, dict):
        return _HEADERS.pack_map_header(len(obj)) + b"".join(pack(k) + pack(v) for k, v in obj.items())
    return msgpack.packb(obj, use_bin_type=False)


def normalize(obj: Any) -> Any:
    """bytes → str (UTF-8, replacing bad bytes), recursively; tuples → lists."""
    if isinstance(obj, bytes):
        return obj.decode("utf-8", errors="replace")
    if isinstance(obj, dict):
        return {normalize(k): normalize(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [normalize(v) for v in obj]
    return obj


def unpack(data: bytes) -> list[Any]:
    """Decode one frame into ``[type, msgid, …]``; raises ProtocolError for anything else."""
    try:
        obj = msgpack.unpackb(data, raw=False, strict_map_key=False, unicode_errors="replace")
    except (ValueError, TypeError) as exc:
        raise ProtocolError(f"undecodable MessagePack frame ({len(data)} bytes): {exc}") from exc
    obj = normalize(obj)
    if not isinstance(obj, list) or len(obj) != 4 or obj[0] not in (REQUEST, RESPONSE):
        raise ProtocolError(f"not a MessagePack-RPC request or response: {str(obj)[:120]}")
    if not isinstance(obj[1], int) or isinstance(obj[1], bool):
        raise ProtocolError(f"message id must be an integer, got {obj[1]!r}")
    return obj


# -- state ---------------------------------------------------------------------------------------


@dataclass
class SessionState:
    """What the handshake learnt; rebuilt by every session the server does not resume."""

    me: int | None = None
    me_name: str = ""
    talk_types: dict[int, int] = field(default_factory=dict)  # talk_id → 1 pair / 2 group
    user_names: dict[int, str] = field(default_factory=dict)


@dataclass
class _Outgoing:
    talk_id: int
    text: str
    done: asyncio.Future[Any]
    attempts: int = 0


async def open_session(
    call: Callable[[str, list[Any]], Awaitable[Any]],
    token: str,
    api_version: str,
    *,
    retry_delay: float = 1.0,
) -> dict[str, Any]:
    """``create_session`` as direct-js does it; the session map, or SessionEnded with the reason.

    A 401 "invalid token" is tried again ``TOKEN_RETRIES`` times ``retry_delay`` apart (a token just
    issued may not have reached every server yet); then, like "unauthorized device", "expired
    password" and "deleted account", it ends the session for good. So does a session whose
    ``password_expiration.expiration`` has passed (direct-js checks it on success too). Where
    direct-js asks for the device code on "unauthorized device", a bot running as a service cannot:
    the operator runs ``kairan logo login``, which asks (``adapters.logo.login``).
    """
    for attempt in range(TOKEN_RETRIES + 1):
        try:
            session = normalize(await call("create_session", [token, api_version, AGENT]))
            break
        except RpcError as exc:
            if exc.code != 401 or exc.message not in ENDINGS:
                raise
            if exc.message != INVALID_TOKEN or attempt == TOKEN_RETRIES:
                raise SessionEnded(exc.message) from exc
            await asyncio.sleep(retry_delay)
    if not isinstance(session, dict):
        raise ProtocolError(f"create_session returned {str(session)[:200]}")
    if _past(_expiration(session, "expiration")):
        raise SessionEnded("expired password")
    return session


def _expiration(session: dict[str, Any], field: str) -> int | None:
    """A time of the session's password_expiration (ms since the epoch), when it says one."""
    found = session.get("password_expiration")
    value = found.get(field) if isinstance(found, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _past(ms: int | None) -> bool:
    return ms is not None and ms < time.time() * 1000


class LogoClient:
    def __init__(
        self,
        *,
        url: str,
        token: str,
        api_version: str = LOGO_API_VERSION,
        proxy: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        ping_interval: float = 40.0,
        reconnect_initial: float = 3.0,
        reconnect_max: float = 45.0,
        call_timeout: float = 30.0,
        send_interval: float = 0.55,
        send_attempts: int = 5,
        backfill: bool = True,
        backfill_count: int = 20,
        token_retry_delay: float = 1.0,
        last_used_interval: float = 600.0,
        read_delay: float = 1.0,
    ) -> None:
        self.url = url
        self._token = token
        self.api_version = api_version
        self.proxy = proxy
        self.ssl_context = ssl_context
        self.ping_interval = ping_interval
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self.call_timeout = call_timeout
        self.send_interval = send_interval
        self.send_attempts = send_attempts
        self.backfill = backfill
        self.backfill_count = backfill_count
        self.token_retry_delay = token_retry_delay
        self.last_used_interval = last_used_interval  # direct-js: every 10 minutes
        self.read_delay = read_delay  # direct-js gathers read marks for a second before sending
        self._read_up_to: dict[int, int] = {}  # talk_id → newest message id marked read
        self._unsent_reads: dict[int, int] = {}  # talk_id → the mark still to send
        self._reads_due = asyncio.Event()
        self._marker: asyncio.Task[None] | None = None
        self._password_warned = False
        self.state = SessionState()
        self.sessions = 0  # sessions created so far (1 after the first connection)
        self.ended: SessionEnded | None = None
        self._handlers: list[NotificationHandler] = []
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._http: aiohttp.ClientSession | None = None
        self._pending: dict[int, tuple[str, asyncio.Future[Any]]] = {}
        self._next_id = 0
        self._ready = asyncio.Event()
        self._stopping = False
        self._runner: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._outbox: asyncio.Queue[_Outgoing] = asyncio.Queue()
        self._last_send = 0.0
        self._last_seen: dict[int, int] = {}  # talk_id → newest message id seen (for backfill)
        self._closed_with: tuple[int | None, str] = (None, "")  # the server's close code and reason
        self._ended = asyncio.Event()

    # -- lifecycle --------------------------------------------------------------------------
    def add_handler(self, handler: NotificationHandler) -> None:
        """``handler(method, payload)`` for every notification payload (and backfilled messages
        as ``notify_create_message``). It must return quickly; the ack is sent after it returns."""
        self._handlers.append(handler)

    async def start(self, *, wait: float | None = 30.0) -> bool:
        """Start connecting; return True once the first session is ready (False after ``wait``)."""
        if self._runner is None:
            self._stopping = False
            self._http = aiohttp.ClientSession(trust_env=self.proxy is None)
            self._runner = asyncio.create_task(self._run(), name="logo-connection")
            self._sender = asyncio.create_task(self._send_loop(), name="logo-sender")
            self._marker = asyncio.create_task(self._send_read_marks(), name="logo-read-marks")
        await self._ready_or_ended(wait)
        if self._ready.is_set():
            return True
        if self.ended is None:
            log.warning("LoGo: no session within %.0f s, still trying to connect to %s", wait or 0, self.url)
        return False

    async def stop(self) -> None:
        self._stopping = True
        tasks = (self._marker, self._sender, self._runner)
        for task in tasks:
            if task is not None:
                task.cancel()
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()
        for task in tasks:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._runner = self._sender = self._marker = None
        self._fail_pending(ConnectionLost("client stopped"))
        self._fail_outgoing(ConnectionLost("client stopped before the message was sent"))
        if self._http is not None:
            await self._http.close()
            self._http = None
        self._ready.clear()

    async def _ready_or_ended(self, timeout: float | None = None) -> None:
        """Wait until a session is ready or LoGo has ended the client's session for good."""
        if self._ready.is_set() or self._ended.is_set():
            return
        waits = [asyncio.ensure_future(self._ready.wait()), asyncio.ensure_future(self._ended.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    def connected(self) -> bool:
        return self._ready.is_set() and self._ws is not None and not self._ws.closed

    async def disconnect(self) -> None:
        """Drop the current connection (the run loop reconnects with a fresh session)."""
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()

    def mark_read(self, talk_id: int, message_id: int) -> None:
        """既読: mark a talk read up to ``message_id`` (LoGo keeps one read position per talk and user,
        so the messages before it count as read too). Sent ``read_delay`` later, in a session."""
        if message_id <= self._read_up_to.get(talk_id, 0):
            return
        self._read_up_to[talk_id] = self._unsent_reads[talk_id] = message_id
        self._reads_due.set()

    # -- queries on the session state ----------------------------------------------------------
    def is_pair_talk(self, talk_id: int) -> bool:
        return self.state.talk_types.get(talk_id) == PAIR_TALK

    def user_name(self, user_id: int) -> str | None:
        return self.state.user_names.get(user_id)

    # -- RPC -------------------------------------------------------------------------------------
    async def call(
        self, method: str, params: list[Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        ws = self._ws
        if ws is None or ws.closed:
            raise ConnectionLost(f"{method}: not connected")
        self._next_id = (self._next_id + 1) % 2**31
        msgid = self._next_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msgid] = (method, future)
        try:
            await ws.send_bytes(pack([REQUEST, msgid, method, params or []]))
            return await asyncio.wait_for(future, timeout or self.call_timeout)
        except (ConnectionResetError, aiohttp.ClientConnectionError) as exc:
            raise ConnectionLost(f"{method}: connection lost ({exc.__class__.__name__})") from exc
        finally:
            self._pending.pop(msgid, None)

    async def send_text(self, talk_id: int, text: str) -> Any:
        """Queue one text message (already within the length limit); return create_message's result.

        Messages leave one at a time, ``send_interval`` apart; 429/503 are retried after the
        server's ``retry_after``; a lost connection waits for the next session. Once LoGo has ended
        the session for good, SessionEnded.
        """
        if self.ended is not None:
            raise self.ended
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._outbox.put(_Outgoing(talk_id=talk_id, text=text, done=done))
        return await done

    # -- internals: connection ------------------------------------------------------------------
    async def _run(self) -> None:
        delay = self.reconnect_initial
        while not self._stopping:
            pause = delay
            try:
                await self._connect_once()
                delay = self.reconnect_initial  # the session worked: start over from the minimum
                pause = delay
            except asyncio.CancelledError:
                raise
            except SessionEnded as exc:
                self._end(exc)
                return
            except RpcError as exc:
                log.error("LoGo: %s", exc)
                if exc.retryable and exc.retry_after is not None:
                    pause = max(exc.retry_after, delay)
            except (LogoError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("LoGo: connection to %s failed: %s: %s", self.url, exc.__class__.__name__, exc)
            finally:
                self._ready.clear()
                self._ws = None
                self._fail_pending(ConnectionLost("connection closed"))
            ending = self._ending()
            if ending is not None:
                self._end(ending)
                return
            if self._stopping:
                break
            log.info("LoGo: reconnecting in %.1f s", pause)
            await asyncio.sleep(pause)
            delay = min(delay * 2, self.reconnect_max)

    def _ending(self) -> SessionEnded | None:
        """The end of the session for good, when the server closed it with such a reason.

        direct-js stops after "concurrent access" (another session took the token: coming back
        would knock that one off, and it us, forever) and signs out after "forcibly closed".
        """
        code, reason = self._closed_with
        if code in SESSION_ENDING_CLOSES and reason in ENDINGS:
            return SessionEnded(reason)
        return None

    def _end(self, exc: SessionEnded) -> None:
        """Stop for good: say why and what to do, fail what waits to be sent."""
        self.ended = exc
        log.error("LoGo: %s", exc)
        self._fail_outgoing(exc)
        self._ended.set()

    def _fail_outgoing(self, exc: Exception) -> None:
        while not self._outbox.empty():
            item = self._outbox.get_nowait()
            if not item.done.done():
                item.done.set_exception(exc)

    async def _connect_once(self) -> None:
        assert self._http is not None
        self._closed_with = (None, "")
        async with self._http.ws_connect(
            self.url,
            proxy=self.proxy,
            ssl=self.ssl_context if self.ssl_context is not None else True,
            heartbeat=self.ping_interval,
            max_msg_size=16 * 2**20,
        ) as ws:
            self._ws = ws
            reader = asyncio.create_task(self._read_loop(ws), name="logo-reader")
            keeper: asyncio.Task[None] | None = None
            try:
                newest = await self._handshake()
                self.sessions += 1
                self._ready.set()
                how = "resumed (notification: true)" if newest is None else "ready"
                log.info("LoGo: session %d %s as user %s", self.sessions, how, self.state.me)
                keeper = asyncio.create_task(self._keep_last_used_at(), name="logo-last-used-at")
                if newest is not None:
                    await self._backfill(newest)
                await reader
            finally:
                for task in (keeper, reader):
                    if task is not None and not task.done():
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
            close_code = ws.close_code
        code, reason = self._closed_with
        log.warning("LoGo: connection closed (code %s, reason %r)", code or close_code, reason)

    async def _handshake(self) -> dict[int, int] | None:
        """Open the session; None when it resumes the previous one, else each talk's newest message id.

        When create_session says ``notification: true`` for the same user, the server has kept the
        notifications since the last session: like direct-js, keep what the last session learnt and
        only start notifications (reset_notification would throw the kept ones away).
        """
        session = await open_session(
            self.call, self._token, self.api_version, retry_delay=self.token_retry_delay
        )
        self._warn_password(session)
        user = session.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("user_id"), int):
            raise ProtocolError(f"create_session returned no user.user_id: {str(session)[:200]}")
        if session.get("notification") is True and self.sessions > 0 and user["user_id"] == self.state.me:
            await self._start_notification()
            return None
        state = SessionState(me=user["user_id"], me_name=str(user.get("display_name", "")))
        await self.call("reset_notification")
        await self.call("get_domains")
        for talk in normalize(await self.call("get_talks")) or []:
            if isinstance(talk, dict) and isinstance(talk.get("talk_id"), int):
                state.talk_types[talk["talk_id"]] = int(talk.get("type") or 0)
        newest = await self._newest_messages()
        try:
            for entry in normalize(await self.call("get_acquaintances")) or []:
                users = entry[1] if isinstance(entry, list) and len(entry) == 2 else []
                for u in users:
                    if isinstance(u, dict) and isinstance(u.get("user_id"), int):
                        state.user_names[u["user_id"]] = str(u.get("display_name", ""))
        except RpcError as exc:  # names are a nicety: mentions fall back to the user id
            log.info("LoGo: get_acquaintances unavailable: %s", exc)
        self.state = state
        await self._start_notification()
        return newest

    async def _start_notification(self) -> None:
        """start_notification, then update_last_used_at as direct-js does right after it."""
        await self.call("start_notification")
        await self._update_last_used_at()

    async def _update_last_used_at(self) -> None:
        """Tell LoGo the bot's device is in use (as direct-js does every 10 minutes). direct-js also
        remembers across restarts when the next call is due; the bot simply calls it at the start of
        every session, which after a reconnection is at most a call more than direct-js makes."""
        try:
            await self.call("update_last_used_at")
        except (LogoError, TimeoutError) as exc:  # the session works without it
            log.warning("LoGo: update_last_used_at failed: %s", exc)

    async def _keep_last_used_at(self) -> None:
        while True:
            await asyncio.sleep(self.last_used_interval)
            await self._update_last_used_at()

    async def _newest_messages(self) -> dict[int, int]:
        """get_talk_statuses: talk id → its newest message id (0 while it has none)."""
        try:
            statuses = normalize(await self.call("get_talk_statuses"))
        except RpcError as exc:  # only the backfill after a lost session needs it
            log.info("LoGo: get_talk_statuses unavailable: %s", exc)
            return {}
        newest: dict[int, int] = {}
        for status in statuses or []:
            if isinstance(status, dict) and isinstance(status.get("talk_id"), int):
                newest_id = status.get("max_message_id")
                newest[status["talk_id"]] = newest_id if isinstance(newest_id, int) else 0
        return newest

    def _warn_password(self, session: dict[str, Any]) -> None:
        """When the session says the password expires soon, as direct-js warns (it once a day, the bot
        once per process: a log line the operator reads, not a dialog a user dismisses)."""
        expires = _expiration(session, "expiration")
        if self._password_warned or expires is None or not _past(_expiration(session, "warning")):
            return
        self._password_warned = True
        until = datetime.fromtimestamp(expires / 1000).astimezone().strftime("%Y-%m-%d %H:%M")
        log.warning(
            "LoGo: ボットのアカウントのパスワードの有効期限が近づいています（%s まで）。"
            "期限が切れるとボットは接続できなくなります。LoGoチャットでパスワードを変更し、"
            "kairan logo login をやり直してください。"
            " / the bot account's password expires at %s: change it in LoGo Chat and run kairan logo login "
            "again before then.",
            until, until,
        )

    async def _read_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            await self._read_frames(ws)
        finally:  # nothing will answer the calls still waiting: fail them now, not at call_timeout
            self._fail_pending(ConnectionLost("connection closed"))

    async def _read_frames(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            frame = await ws.receive()
            if frame.type == aiohttp.WSMsgType.CLOSE:  # the server's close frame: keep its reason
                self._closed_with = (frame.data, str(frame.extra or ""))
                break
            if frame.type in (aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                break
            if frame.type == aiohttp.WSMsgType.BINARY:
                try:
                    message = unpack(frame.data)
                except ProtocolError as exc:
                    log.warning("LoGo: %s", exc)
                    continue
                if message[0] == RESPONSE:
                    self._on_response(message)
                else:
                    await self._on_request(ws, message)
            elif frame.type == aiohttp.WSMsgType.TEXT:
                log.warning("LoGo: unexpected text frame ignored (%d chars)", len(frame.data))
            elif frame.type == aiohttp.WSMsgType.ERROR:
                log.warning("LoGo: WebSocket error: %s", ws.exception())
                break

    def _on_response(self, message: list[Any]) -> None:
        _, msgid, error, result = message
        entry = self._pending.get(msgid)
        if entry is None:
            log.warning("LoGo: response to unknown request id %s", msgid)
            return
        method, future = entry
        if future.done():
            return
        if error is not None:
            exc = RpcError(method, error)
            if exc.message == "invalid session":
                asyncio.get_running_loop().create_task(self.disconnect())
            future.set_exception(exc)
        else:
            future.set_result(result)

    async def _on_request(self, ws: aiohttp.ClientWebSocketResponse, message: list[Any]) -> None:
        _, msgid, method, params = message
        payloads = params if isinstance(params, list) else [params]
        for payload in payloads:
            if method == "notify_create_message":
                self._remember(payload)
            self._track_talks(str(method), payload)
            self._dispatch(str(method), payload)
        await ws.send_bytes(pack([RESPONSE, msgid, None, True]))

    def _dispatch(self, method: str, payload: Any) -> None:
        for handler in self._handlers:
            try:
                handler(method, payload)
            except Exception:  # a handler bug must not stop acks or the connection
                log.exception("LoGo: notification handler failed for %s", method)

    def _track_talks(self, method: str, payload: Any) -> None:
        if method in ("notify_create_pair_talk", "notify_create_group_talk", "notify_add_talkers",
                      "notify_update_group_talk") and isinstance(payload, dict):
            talk_id, kind = payload.get("talk_id"), payload.get("type")
            if isinstance(talk_id, int) and isinstance(kind, int):
                self.state.talk_types[talk_id] = kind
        elif method == "notify_add_acquaintance":  # [domain_id, user] (direct-js) or a flat user map
            user = payload[1] if isinstance(payload, list) and len(payload) == 2 else payload
            if isinstance(user, dict) and isinstance(user.get("user_id"), int):
                self.state.user_names[user["user_id"]] = str(user.get("display_name", ""))

    def _remember(self, payload: Any) -> None:
        if isinstance(payload, dict):
            talk_id, message_id = payload.get("talk_id"), payload.get("message_id")
            if isinstance(talk_id, int) and isinstance(message_id, int):
                self._last_seen[talk_id] = max(message_id, self._last_seen.get(talk_id, 0))

    async def _backfill(self, newest: dict[int, int]) -> None:
        """After a session the server did not resume, fetch what was posted while the bot was away.

        A talk's starting point is the newest message notified to the bot, else its newest message at
        the first session that listed it; talks whose status shows nothing newer are not asked. Talks
        first seen now start from here (their earlier messages are not the bot's to answer). Handlers
        de-duplicate by message id.
        """
        first = self.sessions == 1
        for talk_id, newest_id in newest.items():
            self._last_seen.setdefault(talk_id, newest_id)
        if first or not self.backfill:
            return
        # Without talk statuses, every talk a message was seen in is asked.
        since_seen = newest.items() if newest else self._last_seen.items()
        for talk_id, newest_id in list(since_seen):
            since = self._last_seen[talk_id]
            if newest and newest_id <= since:
                continue
            try:
                params = [Id(talk_id), self.backfill_count, Id(since) if since else None, None, ORDER_ASC]
                messages = await self.call("get_messages", params)
            except RpcError as exc:
                log.info("LoGo: backfill disabled, get_messages failed: %s", exc)
                self.backfill = False
                return
            for payload in normalize(messages) or []:
                message_id = payload.get("message_id") if isinstance(payload, dict) else None
                if isinstance(message_id, int) and message_id > since:
                    self._remember(payload)
                    self._dispatch("notify_create_message", payload)

    def _fail_pending(self, exc: Exception) -> None:
        for _, future in list(self._pending.values()):
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()

    async def _send_read_marks(self) -> None:
        """update_read_statuses [talk_id, newest id read] for every talk with a new mark, as direct-js."""
        while True:
            await self._reads_due.wait()
            await asyncio.sleep(self.read_delay)
            await self._ready_or_ended()
            if self.ended is not None:
                return
            self._reads_due.clear()
            for talk_id, message_id in list(self._unsent_reads.items()):
                try:
                    await self.call("update_read_statuses", [Id(talk_id), Id(message_id)])
                except RpcError as exc:
                    if exc.retryable:  # 429/503: again after the server's wait
                        await asyncio.sleep(exc.retry_after or self.read_delay)
                        self._reads_due.set()
                        break
                    log.warning("LoGo: marking talk %s read failed: %s", talk_id, exc)
                except (ConnectionLost, TimeoutError):  # again in the next session
                    self._reads_due.set()
                    break
                if self._unsent_reads.get(talk_id) == message_id:
                    del self._unsent_reads[talk_id]

    # -- internals: send queue --------------------------------------------------------------------
    async def _send_loop(self) -> None:
        while True:
            item = await self._outbox.get()
            while not item.done.done():
                await self._ready_or_ended()
                if self.ended is not None:
                    item.done.set_exception(self.ended)
                    break
                gap = self.send_interval - (time.monotonic() - self._last_send)
                if gap > 0:
                    await asyncio.sleep(gap)
                item.attempts += 1
                self._last_send = time.monotonic()
                try:
                    result = await self.call("create_message", [Id(item.talk_id), TEXT_MESSAGE, item.text])
                except RpcError as exc:
                    if exc.retryable and item.attempts < self.send_attempts:
                        wait = exc.retry_after if exc.retry_after is not None else self.send_interval * 2
                        log.warning("LoGo: %s; retrying in %.2f s", exc, wait)
                        await asyncio.sleep(wait)
                        continue
                    item.done.set_exception(exc)
                except (ConnectionLost, TimeoutError) as exc:
                    if item.attempts < self.send_attempts:
                        log.warning("LoGo: create_message interrupted (%s); will resend", exc)
                        continue
                    item.done.set_exception(ConnectionLost(f"create_message failed {item.attempts} times"))
                else:
                    item.done.set_result(normalize(result))


def text_of(value: Any) -> str | None:
    """A str from a decoded field that may still be raw bytes; None for anything else."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else None
