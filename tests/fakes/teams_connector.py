"""A local mock of the Bot Connector REST API (the part of Teams' serviceUrl a bot posts to).

Usage::

    async with MockConnector() as connector:
        activity["serviceUrl"] = connector.service_url
        ...
        [reply] = await connector.wait_for(1, kind="message")

Captures ``POST /v3/conversations/{conversationId}/activities`` (send to conversation) and
``POST /v3/conversations/{conversationId}/activities/{activityId}`` (reply to activity) and
``PUT`` on the latter (update), answering ``{"id": "<new id>"}`` like the real service. Ids are
counters starting at ``first_id``. The service URL carries a path (``/jp/``) like Teams' own.

Failures: ``fail_status`` answers every call with that status; ``fail_next(429, times=2,
retry_after=1)`` answers only the next calls so (with ``Retry-After``), and ``refused`` records
each refused call (status, time) for the test to check the client's retries. ``fail_next`` may
name the activity type (``kind="message"``) or the Teams streaming update (``stream="final"``) it
refuses, and the error's ``code`` and ``message``, e.g. Teams' 403 ``ContentStreamNotAllowed``
"Content stream finished due to exceeded streaming time." (its two-minute streaming limit).

Like the Microsoft 365 Agents Playground's connector (npm ``@microsoft/m365agentsplayground``
0.2.28), the mock validates what it is sent before any scripted failure: an activity with a
``null`` anywhere (``"id": null``, ``"locale": null``), or whose schema.org Message entity breaks
the Playground's rules (more than 10 citations, more than 3 keywords, a position that is not
positive, an appearance without name or abstract), is answered ``400 BadArgument`` and kept in
``invalid`` (what is wrong, and the body) instead of ``posted``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.local_http import LocalServer


@dataclass(frozen=True)
class Refusal:
    status: int
    retry_after: float | None = None
    kind: str | None = None  # refuse only activities of this type
    stream: str | None = None  # refuse only streaming updates of this streamType
    code: str | None = None
    message: str = "mock failure"

    def matches(self, body: dict[str, Any]) -> bool:
        if self.kind is not None and body.get("type") != self.kind:
            return False
        return self.stream is None or stream_type(body) == self.stream

    def response(self) -> web.Response:
        headers = {} if self.retry_after is None else {"Retry-After": f"{self.retry_after:g}"}
        code = self.code or ("Throttled" if self.status == 429 else "ServiceError")
        error = {"error": {"code": code, "message": self.message}}
        return web.json_response(error, status=self.status, headers=headers)


def stream_type(body: dict[str, Any]) -> str | None:
    for entity in body.get("entities") or []:
        if isinstance(entity, dict) and entity.get("type") == "streaminfo":
            return str(entity.get("streamType"))
    return None


@dataclass(frozen=True)
class Posted:
    method: str
    conversation_id: str
    reply_to_id: str | None  # from the URL (reply_to_activity), None for send_to_conversation
    activity: dict[str, Any]
    authorization: str | None
    id: str  # the id the mock assigned

    @property
    def type(self) -> str:
        return str(self.activity.get("type"))

    def stream_info(self) -> dict[str, Any] | None:
        for entity in self.activity.get("entities") or []:
            if entity.get("type") == "streaminfo":
                return dict(entity)
        return None


class MockConnector(LocalServer):
    def __init__(self, *, first_id: int = 1748824269001) -> None:
        self.posted: list[Posted] = []
        self._ids = itertools.count(first_id)
        self._changed = asyncio.Condition()
        self.fail_status: int | None = None
        self.refused: list[tuple[int, float]] = []  # (status, time.monotonic()) of refused calls
        self._failures: deque[Refusal] = deque()
        self.invalid: list[tuple[str, dict[str, Any]]] = []  # (what is wrong, the activity)

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        kind: str | None = None,
        stream: str | None = None,
        code: str | None = None,
        message: str = "mock failure",
    ) -> None:
        """Refuse the next ``times`` calls (of activities of type ``kind``, or streaming updates of
        type ``stream``, only, when given) with ``status`` (and ``Retry-After`` when given)."""
        self._failures.extend([Refusal(status, retry_after, kind, stream, code, message)] * times)

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jp/"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/jp/v3/conversations/{conversation}/activities", self._send)
        app.router.add_post("/jp/v3/conversations/{conversation}/activities/{activity}", self._send)
        app.router.add_put("/jp/v3/conversations/{conversation}/activities/{activity}", self._send)
        return app

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        wrong = first_null(body) or message_entity_error(body)
        if wrong is not None:
            self.invalid.append((wrong, body))
            invalid = {"error": {"code": "BadArgument", "message": "Invalid input"}}
            return web.json_response(invalid, status=400)
        failure: Refusal | None = None
        if self._failures and self._failures[0].matches(body):
            failure = self._failures.popleft()
        elif self.fail_status is not None:
            failure = Refusal(self.fail_status)
        if failure is not None:
            self.refused.append((failure.status, time.monotonic()))
            return failure.response()
        posted = Posted(
            method=request.method,
            conversation_id=request.match_info["conversation"],
            reply_to_id=request.match_info.get("activity"),
            activity=body,
            authorization=request.headers.get("Authorization"),
            id=str(next(self._ids)),
        )
        async with self._changed:
            self.posted.append(posted)
            self._changed.notify_all()
        return web.json_response({"id": posted.id}, status=201 if request.method == "POST" else 200)

    def of_type(self, kind: str) -> list[Posted]:
        return [p for p in self.posted if p.type == kind]

    async def wait_for(self, count: int, *, kind: str = "message", timeout: float = 30) -> list[Posted]:
        """Wait until ``count`` activities of ``kind`` were posted; returns them."""

        async def enough() -> list[Posted]:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.of_type(kind)) >= count)
                return self.of_type(kind)

        return await asyncio.wait_for(enough(), timeout)


def first_null(value: Any, path: str = "") -> str | None:
    """Where the first ``null`` in a JSON value is (``"locale"``, ``"conversation.name"``), or None."""
    if value is None:
        return path or "(the body)"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = first_null(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


PLAYGROUND_MAX_CITATIONS = 10  # Teams allows 20; the Playground's aiEntitySchema .max(10)


def message_entity_error(body: dict[str, Any]) -> str | None:
    """What the Playground's check of a schema.org Message entity refuses, or None."""
    for i, entity in enumerate(body.get("entities") or []):
        if not isinstance(entity, dict) or entity.get("type") != "https://schema.org/Message":
            continue
        if entity.get("additionalType", ["AIGeneratedContent"]) != ["AIGeneratedContent"]:
            return f"entities.{i}.additionalType"
        claims = entity.get("citation", [])
        if len(claims) > PLAYGROUND_MAX_CITATIONS:
            return f"entities.{i}.citation: {len(claims)} citations, at most {PLAYGROUND_MAX_CITATIONS}"
        for j, claim in enumerate(claims):
            appearance = claim.get("appearance") or {}
            if not (isinstance(claim.get("position"), int) and claim["position"] > 0):
                return f"entities.{i}.citation.{j}.position"
            if not all(isinstance(appearance.get(k), str) for k in ("name", "abstract")):
                return f"entities.{i}.citation.{j}.appearance"
            if len(appearance.get("keywords", [])) > 3:
                return f"entities.{i}.citation.{j}.appearance.keywords"
    return None
