"""``kairan logo login``: obtain the bot's access token (the lead mounts this on the CLI).

Steps, as the direct clients do them: ``create_access_token(login, password, idfv, "bot", "")``
(``create_access_token_by_id`` for ``id$group`` logins without @), then
``create_session(token, api_version, "bot")`` to check the token (``open_session``: "invalid token"
is tried again three times a second apart, as a new token may not have reached every server yet).
When the server answers 401 "unauthorized device", the admin is asked for the device authorization
code, sent with ``authorize_device(code, idfv)``, and the session is tried again; "expired password"
and "deleted account" fail with what to do, Japanese first. The password is never logged or echoed;
the token is returned for the admin to put into the variable that ``platforms.logo.token_env`` names.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from adapters.logo.client import (
    AGENT,
    REQUEST,
    RESPONSE,
    ConnectionLost,
    RpcError,
    SessionEnded,
    normalize,
    open_session,
    pack,
    unpack,
)
from manifest.schema import LOGO_API_VERSION

UNAUTHORIZED_DEVICE = "unauthorized device"
CODE_PROMPT = "LoGoチャットに表示された端末認証コードを入力してください: "


class LoginError(Exception):
    """Login failed; the message says why (never the password)."""


@dataclass(frozen=True)
class LoginResult:
    token: str
    user_id: int | None
    display_name: str
    idfv: str  # the device identifier the token is bound to


class _Rpc:
    """One WebSocket connection doing calls in turn; server requests are acked and ignored."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, timeout: float) -> None:
        self.ws = ws
        self.timeout = timeout
        self._next = 0

    async def call(self, method: str, params: list[Any]) -> Any:
        self._next += 1
        msgid = self._next
        await self.ws.send_bytes(pack([REQUEST, msgid, method, params]))
        async with asyncio.timeout(self.timeout):
            async for frame in self.ws:
                if frame.type != aiohttp.WSMsgType.BINARY:
                    continue
                message = unpack(frame.data)
                if message[0] == REQUEST:
                    await self.ws.send_bytes(pack([RESPONSE, message[1], None, True]))
                elif message[1] == msgid:
                    if message[2] is not None:
                        raise RpcError(method, message[2])
                    return normalize(message[3])
        raise ConnectionLost(f"{method}: the server closed the connection")


@contextlib.asynccontextmanager
async def _connect(
    url: str, *, proxy: str | None, ssl_context: ssl.SSLContext | None, timeout: float
) -> AsyncIterator[_Rpc]:
    async with (
        aiohttp.ClientSession(trust_env=proxy is None) as http,
        http.ws_connect(url, proxy=proxy, ssl=ssl_context if ssl_context is not None else True) as ws,
    ):
        yield _Rpc(ws, timeout)


def token_request(login: str, password: str, idfv: str) -> tuple[str, list[str]]:
    """The RPC that turns a login into a token: by e-mail, or by ``id$group`` sign-in id."""
    parts = login.split("$")
    if "@" not in login and len(parts) == 2:
        return "create_access_token_by_id", [parts[1], parts[0], password, idfv, AGENT, ""]
    return "create_access_token", [login, password, idfv, AGENT, ""]


async def login_flow(
    *,
    url: str,
    login: str,
    password: str,
    ask_code: Callable[[str], Awaitable[str]],
    api_version: str = LOGO_API_VERSION,
    proxy: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    idfv: str | None = None,
    timeout: float = 30.0,
    token_retry_delay: float = 1.0,
) -> LoginResult:
    """Obtain and check an access token; ``ask_code(prompt)`` supplies the device code if needed."""
    device = idfv or str(uuid.uuid4())
    method, params = token_request(login, password, device)
    try:
        async with _connect(url, proxy=proxy, ssl_context=ssl_context, timeout=timeout) as rpc:
            token = await rpc.call(method, params)
            if not isinstance(token, str) or not token:
                raise LoginError(f"{method} returned no token")
            try:
                session = await open_session(rpc.call, token, api_version, retry_delay=token_retry_delay)
            except SessionEnded as exc:
                if exc.reason != UNAUTHORIZED_DEVICE:
                    raise LoginError(str(exc)) from exc
                code = (await ask_code(CODE_PROMPT)).strip()
                if not code:
                    raise LoginError(
                        "端末認証コードが入力されませんでした / no device authorization code was entered"
                    ) from exc
                await rpc.call("authorize_device", [code, device])
                session = await open_session(rpc.call, token, api_version, retry_delay=token_retry_delay)
    except SessionEnded as exc:
        raise LoginError(str(exc)) from exc
    except RpcError as exc:
        said = f"{exc.method}: {exc.code} {exc.message}".rstrip()
        raise LoginError(
            f"LoGoチャットにログインできませんでした（{said}） / LoGo login failed at {said}"
        ) from exc
    except (aiohttp.ClientError, OSError, TimeoutError, ConnectionLost) as exc:
        why = f"{exc.__class__.__name__}: {exc}"
        raise LoginError(
            f"LoGoチャットに接続できません（{url}）: {why} / cannot reach LoGo at {url}: {why}"
        ) from exc
    user = session.get("user")
    user = user if isinstance(user, dict) else {}
    user_id = user.get("user_id") if isinstance(user.get("user_id"), int) else None
    name = str(user.get("display_name", ""))
    return LoginResult(token=token, user_id=user_id, display_name=name, idfv=device)
