"""Slack event payloads → neutral models (pure; no Slack SDK import)."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.slack import PLATFORM
from bot.models import ConversationRef, IncomingMessage

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_MARKUP = re.compile(r"<([^<>]*)>")  # Slack escapes a typed < and >: every <…> left is markup


def _plain(match: re.Match[str]) -> str:
    """Slack markup as the words a person reads (https://api.slack.com/reference/surfaces/formatting).

    A channel by its name, a user group by its handle, a date by its fallback text, a link by its
    label (or its address); ids without a name mean nothing to the search and go, and so do the
    broadcasts (@here, @channel, @everyone).
    """
    target, _, label = match.group(1).partition("|")
    if target.startswith("#"):
        return f" #{label} " if label else " "
    if target.startswith("!subteam^"):
        return f" {label} " if label else " "
    if target.startswith("!date^"):
        return label
    if target.startswith("!"):
        return " "
    return label or target


class PayloadError(ValueError):
    """A Slack event lacks a field the bot needs (names the field)."""


def clean_text(text: str, bot_user_id: str | None) -> tuple[str, tuple[str, ...]]:
    """Question text as plain words, and the users other than the bot mentioned in it.

    Without a known bot user id, a leading mention is taken as the one addressing the bot.
    """
    mentioned = tuple(dict.fromkeys(m.group(1) for m in _MENTION.finditer(text)))
    if bot_user_id is None:
        leading = _MENTION.match(text.lstrip())
        bot_user_id = leading.group(1) if leading else None
    others = tuple(u for u in mentioned if u != bot_user_id)
    text = _MENTION.sub(" ", text)  # user ids mean nothing to the search; they are kept in ``mentions``
    text = _MARKUP.sub(_plain, text)
    text = html.unescape(text)
    return " ".join(text.split()), others


def _field(event: Mapping[str, Any], name: str) -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"Slack event {event.get('type')!r} has no {name!r} field")
    return value


def thread_root(event: Mapping[str, Any]) -> str:
    """The ts of the thread's root: the event's thread_ts, or its own ts when it starts a thread."""
    thread = event.get("thread_ts")
    return thread if isinstance(thread, str) and thread else _field(event, "ts")


def incoming_message(
    event: Mapping[str, Any], *, tenant: str, bot_user_id: str | None
) -> IncomingMessage:
    """An ``app_mention`` or ``message`` event as a neutral IncomingMessage."""
    channel = _field(event, "channel")
    ts = _field(event, "ts")
    user = _field(event, "user")
    text, mentions = clean_text(str(event.get("text") or ""), bot_user_id)
    ref = ConversationRef(
        platform=PLATFORM, tenant=tenant, channel=channel, thread=thread_root(event), message=ts
    )
    return IncomingMessage(ref=ref, user=user, text=text, mentions=mentions, raw=dict(event))


def is_from_bot(event: Mapping[str, Any], bot_user_id: str | None) -> bool:
    """A message a bot posted: any app's bot (``bot_id``, ``bot_profile``), a legacy integration
    (subtype ``bot_message``) or kairan's own bot user. Never answered: two bots that mention each
    other would answer each other forever."""
    user = event.get("user")
    return bool(
        event.get("bot_id")
        or event.get("bot_profile")
        or event.get("subtype") == "bot_message"
        or (bot_user_id is not None and user == bot_user_id)
    )


def is_user_dm(event: Mapping[str, Any]) -> bool:
    """A direct message a person typed (not a bot post, an edit, a join or any other subtype)."""
    return (
        event.get("type") == "message"
        and event.get("channel_type") == "im"
        and event.get("subtype") in (None, "file_share")
        and not is_from_bot(event, None)
        and not event.get("app_id")
        and bool(event.get("user"))
    )


@dataclass(frozen=True)
class FeedbackClick:
    audit_id: str
    value: str  # "helpful" | "not_helpful"
    user: str
    channel: str | None
    thread: str | None


def feedback_click(
    body: Mapping[str, Any], action: Mapping[str, Any], actions: Mapping[str, str]
) -> FeedbackClick:
    """A ``block_actions`` click on one of the feedback buttons (``actions`` maps action_id → value)."""
    action_id = action.get("action_id")
    if not isinstance(action_id, str) or action_id not in actions:
        raise PayloadError(f"block_actions action_id {action_id!r} is not a feedback button")
    audit_id = action.get("value")
    if not isinstance(audit_id, str) or not audit_id:
        raise PayloadError("feedback button has no 'value' (the audit id)")
    user = (body.get("user") or {}).get("id")
    if not isinstance(user, str) or not user:
        raise PayloadError("block_actions payload has no 'user.id'")
    channel = (body.get("channel") or {}).get("id")
    message = body.get("message") or {}
    thread = message.get("thread_ts") or message.get("ts")
    return FeedbackClick(audit_id, actions[action_id], user, channel, thread)
