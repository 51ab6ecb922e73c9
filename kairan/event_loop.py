"""The event loop long-running commands run on: uvloop where it is installed, else asyncio's own.

uvloop (libuv) serves the same aiohttp, Slack and LLM traffic with less CPU per request; under
50 concurrent questions it took about a tenth off the bot's CPU per question
(docs/performance.md). It is not available on Windows, where asyncio's loop is used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
