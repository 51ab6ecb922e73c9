"""Teams answers the Bot Connector refused past the retries, kept in the state DB and posted later.

When ``send_with_retry`` gives up with 429/5xx (an outage, not a blip), the rendered activity is
stored in the platform-generic ``bot.state.outbox.Outbox`` (platform "teams") with the conversation
and thread it belongs to, instead of being lost. The adapter's ``adapters.redelivery.Redelivery``
loop posts it later proactively (through the stored conversation reference, like a digest).

Each queued item is ``{"activity": <rendered message activity>, "audit_id": <str | None>}`` so a
redelivered answer can still be linked to its audit record for feedback.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from adapters.redelivery import Redelivery
from adapters.teams.render import PLATFORM, message_key
from adapters.teams.retry import TeamsDeliveryError
from bot.models import ConversationRef
from bot.state.outbox import Outbox, Queued

log = logging.getLogger(__name__)

# Posts one rendered activity proactively to (conversation, thread); links the audit id when given.
# Raises TeamsDeliveryError (``retryable`` says whether a later attempt may succeed).
PostActivity = Callable[[str, str | None, dict[str, Any], str | None], Awaitable[None]]


def queued_item(activity: Mapping[str, Any], audit_id: str | None = None) -> dict[str, Any]:
    return {"activity": dict(activity), "audit_id": audit_id}


def outbox_key(ref: ConversationRef) -> str:
    """One entry per answered message: queuing the same answer again is a no-op."""
    return message_key(ref) or uuid.uuid4().hex


async def queue_answer(
    outbox: Outbox, ref: ConversationRef, items: Sequence[dict[str, Any]], status: int
) -> None:
    """Store ``items`` for redelivery to ``ref``'s conversation; one WARNING line (INFO if already queued)."""
    added = await asyncio.to_thread(outbox.add, PLATFORM, outbox_key(ref), ref.channel, ref.thread, items)
    if added:
        log.warning(
            "Teams connector answered HTTP %s for conversation %s; the answer is queued and will be "
            "posted when Teams takes it",
            status, ref.channel,
        )
    else:
        log.info("Teams answer to message %s in %s is already queued", ref.message, ref.channel)


def teams_redelivery(outbox: Outbox, post: PostActivity, *, interval: float) -> Redelivery:
    """The redelivery loop for queued Teams answers, posting through ``post``."""

    async def post_one(entry: Queued, item: Any) -> None:
        await post(entry.channel, entry.thread, dict(item["activity"]), item.get("audit_id"))

    return Redelivery(
        outbox, PLATFORM, post_one, classify=_outage, label="Teams", describe=_describe, interval=interval
    )


def _outage(exc: Exception) -> bool | None:
    return exc.retryable if isinstance(exc, TeamsDeliveryError) else None


def _describe(entry: Queued) -> str:
    return f"to message {entry.key.rsplit('@', 1)[0]} in {entry.channel}"
