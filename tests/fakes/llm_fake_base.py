"""Scripting, recording, failure injection and lifecycle shared by the fake LLM servers."""

from __future__ import annotations

import asyncio
import json
import struct
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from tests.fakes.local_http import LocalServer


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Reply:
    text: str
    deltas: tuple[str, ...]
    usage: dict[str, Any]
    stop_reason: str | None
    break_after: int | None = None
    pace: float = 0.0  # seconds before each streamed delta (an LLM that writes for a while)


@dataclass
class Failure:
    status: int
    retry_after: float | None


@dataclass
class FakeLLMServer(LocalServer):
    """Base class: subclasses add their routes in ``_add_routes``."""

    runner_options: ClassVar[dict[str, Any]] = {"handler_cancellation": True}

    requests: list[RecordedRequest] = field(default_factory=list)
    _reply: Reply | None = field(default=None, init=False)
    _responder: Callable[[Any], str] | None = field(default=None, init=False)
    _failures: deque[Failure] = field(default_factory=deque, init=False)
    _delays: deque[float] = field(default_factory=deque, init=False)

    def script(self, text: str = "OK", *, deltas: list[str] | None = None,
               usage: dict[str, Any] | None = None, stop_reason: str | None = None,
               break_after: int | None = None, pace: float = 0.0) -> None:
        """Answer with ``text`` (streamed as ``deltas``, by default 5-character pieces, ``pace``
        seconds apart) from now on."""
        pieces = tuple(deltas) if deltas is not None else tuple(text[i:i + 5] for i in range(0, len(text), 5))
        if "".join(pieces) != text:
            raise ValueError("deltas must join to text")
        self._reply = Reply(text, pieces, dict(usage or {}), stop_reason, break_after, pace)
        self._responder = None

    def respond(self, reply: Callable[[Any], str], *, usage: dict[str, Any] | None = None,
                pace: float = 0.0) -> None:
        """Answer every request with ``reply(body)`` (its JSON body) from now on, until ``script``."""
        self.script(usage=usage, pace=pace)
        self._responder = reply

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        self._failures.extend(Failure(status, retry_after) for _ in range(times))

    def delay_next(self, seconds: float, times: int = 1) -> None:
        self._delays.extend([seconds] * times)

    @property
    def base_url(self) -> str:
        if not self._port:
            raise RuntimeError("server not started: use `async with`")
        return f"http://127.0.0.1:{self._port}"

    def sent_text(self) -> str:
        return "\n".join(json.dumps(r.body, ensure_ascii=False) for r in self.requests)

    def app(self) -> web.Application:
        app = web.Application()
        self._add_routes(app)
        return app

    def _add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def _record(self, request: web.Request) -> Any:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        self.requests.append(RecordedRequest(request.method, request.path, dict(request.headers), body))
        if self._delays:
            await asyncio.sleep(self._delays.popleft())
        return body

    def _next_failure(self) -> Failure | None:
        return self._failures.popleft() if self._failures else None

    def _current_reply(self, body: Any = None) -> Reply:
        if self._reply is None:
            self.script()
        assert self._reply is not None
        if self._responder is not None:
            text = self._responder(body)
            pieces = tuple(text[i:i + 5] for i in range(0, len(text), 5))
            return Reply(text, pieces, self._reply.usage, self._reply.stop_reason, pace=self._reply.pace)
        return self._reply


def retry_headers(failure: Failure) -> dict[str, str]:
    return {} if failure.retry_after is None else {"retry-after": f"{failure.retry_after:g}"}


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def aws_event_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message (prelude + CRCs, string headers), as Bedrock streams them."""
    encoded = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v.encode())) + v.encode()
        for k, v in headers.items()
    )
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


