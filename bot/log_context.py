"""The request id that ties together the log lines of one HTTP request or one chat question.

``kairan.serve`` sets one per HTTP request (``X-Request-Id`` when given); the question lifecycle sets one
per chat question that arrives without one (Slack's Socket Mode, LoGo's WebSocket, a resumed question),
so every line logged while a question is answered — the search, the LLM call, a failure — carries it.
``kairan.logging`` writes it into each JSON line.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("kairan_request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


@contextmanager
def request_id() -> Iterator[str]:
    """The current request id (an HTTP request's), else a fresh one for the duration of the block."""
    current = request_id_var.get()
    if current is not None:
        yield current
        return
    fresh = new_request_id()
    token = request_id_var.set(fresh)
    try:
        yield fresh
    finally:
        request_id_var.reset(token)
