"""LoGo Chat replies the server did not take during an outage, kept in the state DB and posted later.

The client already retries a message (429/503 after ``retry_after``, a lost connection on the next
session) ``send_attempts`` times. When it still fails with ``ConnectionLost`` or a retryable
``RpcError`` (429/503), the chunks of the reply not yet posted are stored in the platform-generic
``bot.state.outbox.Outbox`` (platform "logo", key: the answered message id) instead of being lost;
a rejected message (any other RPC error) is not queued. ``logo_redelivery`` posts them later, in
order, while the client is connected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from adapters.logo.client import ConnectionLost, LogoError, RpcError
from adapters.logo.render import PLATFORM
from adapters.redelivery import Redelivery
from bot.state.outbox import Outbox, Queued

log = logging.getLogger(__name__)

PostText = Callable[[int, str], Awaitable[None]]  # posts one chunk to a talk; raises LogoError


def is_outage(exc: BaseException) -> bool | None:
    """True: the server was unreachable or busy; False: it rejected the message; None: not LoGo's."""
    if isinstance(exc, ConnectionLost):
        return True
    if isinstance(exc, RpcError):
        return exc.retryable
    return False if isinstance(exc, LogoError) else None


async def queue_reply(
    outbox: Outbox, talk_id: int, message_id: str, chunks: Sequence[str], exc: LogoError
) -> None:
    """Store the chunks not yet posted for redelivery; one WARNING line (INFO if already queued)."""
    added = await asyncio.to_thread(outbox.add, PLATFORM, message_id, str(talk_id), None, list(chunks))
    if added:
        log.warning(
            "LoGo: posting the answer to message %s in talk %s failed: %s; the answer is queued and "
            "will be posted when LoGo takes it",
            message_id, talk_id, exc,
        )
    else:
        log.info("LoGo: the answer to message %s in talk %s is already queued", message_id, talk_id)


def logo_redelivery(
    outbox: Outbox, post: PostText, *, connected: Callable[[], bool], interval: float
) -> Redelivery:
    """The redelivery loop for queued LoGo replies; rounds are skipped while disconnected."""

    async def post_one(entry: Queued, chunk: Any) -> None:
        await post(int(entry.channel), str(chunk))

    return Redelivery(
        outbox, PLATFORM, post_one, classify=is_outage, label="LoGo", describe=_describe,
        ready=connected, interval=interval,
    )


def _describe(entry: Queued) -> str:
    return f"to message {entry.key} in talk {entry.channel}"
