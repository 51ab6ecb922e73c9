"""Pure conversions between Teams activities (plain JSON dicts) and kairan's neutral models.

Inbound: a message activity → ``IncomingMessage`` (bot mention removed, thread resolved), a
feedback invoke → ``FeedbackVote``. Outbound: ``Answer`` / ``Digest`` → a message activity dict
carrying Teams AI citation entities (schema.org ``Message`` with ``Claim`` / ``DigitalDocument``),
the AI-generated label and the feedback loop flag, as documented for bot messages with
AI-generated content.

No SDK types here: the adapter validates these dicts into ``microsoft_agents.activity.Activity``.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from adapters.teams import PLATFORM
from bot.models import Answer, Citation, ConversationRef, Digest, IncomingMessage

# Documented limits of a citation's appearance (Teams: "Add citations").
ABSTRACT_MAX = 160
NAME_MAX = 80
KEYWORD_MAX = 28
# Teams shows up to 20 citations (400 above); the Microsoft 365 Agents Playground refuses more than
# 10. Sources past the 10th are not dropped (or merged: that would blur which provision says what):
# their [n] markers stay and they are listed under the text with their links (``overflow_lines``).
MAX_CITATIONS = 10

AI_LABEL = "AIGeneratedContent"
MESSAGE_ENTITY_TYPE = "https://schema.org/Message"

ConversationType = Literal["personal", "groupChat", "channel"]
_MESSAGE_ID = re.compile(r";messageid=(\d+)$")
_MARKER = re.compile(r"\[(\d+)\]")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


class TeamsPayloadError(ValueError):
    """A Teams activity lacks a field kairan needs; the message names the field."""


# --- inbound -----------------------------------------------------------------------------------


def _field(activity: Mapping[str, Any], *path: str) -> Any:
    value: Any = activity
    for key in path:
        if not isinstance(value, Mapping) or key not in value or value[key] in (None, ""):
            kind = activity.get("type", "?") if isinstance(activity, Mapping) else "?"
            raise TeamsPayloadError(f"Teams {kind} activity has no {'.'.join(path)}")
        value = value[key]
    return value


def _optional(activity: Mapping[str, Any], *path: str) -> Any:
    value: Any = activity
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def base_conversation_id(conversation_id: str) -> str:
    """The conversation without a channel thread suffix: ``19:x@thread.tacv2;messageid=1`` → ``19:x@…``."""
    return _MESSAGE_ID.sub("", conversation_id)


def conversation_type(activity: Mapping[str, Any]) -> ConversationType:
    kind = _optional(activity, "conversation", "conversationType")
    if kind in ("personal", "groupChat", "channel"):
        return kind
    if kind is None:  # older payloads: isGroup without a type
        return "groupChat" if _optional(activity, "conversation", "isGroup") else "personal"
    raise TeamsPayloadError(f"Teams activity has an unknown conversation.conversationType {kind!r}")


def thread_root(activity: Mapping[str, Any]) -> str | None:
    """The root message of a channel reply chain; None outside channels.

    In a channel, the conversation id carries ``;messageid=<root>`` for posts and replies
    alike; ``replyToId`` is the fallback, then the post's own id (a new top-level post).
    """
    if conversation_type(activity) != "channel":
        return None
    found = _MESSAGE_ID.search(str(_field(activity, "conversation", "id")))
    if found:
        return found.group(1)
    return _optional(activity, "replyToId") or _optional(activity, "id")


def strip_bot_mention(activity: Mapping[str, Any]) -> str:
    """The message text with the mention of the bot (the recipient) removed, as plain text."""
    text = str(activity.get("text") or "")
    bot_id = _optional(activity, "recipient", "id")
    for entity in activity.get("entities") or []:
        if not isinstance(entity, Mapping) or entity.get("type") != "mention":
            continue
        mentioned = entity.get("mentioned") or {}
        if bot_id and mentioned.get("id") == bot_id:
            marker = entity.get("text") or f"<at>{mentioned.get('name', '')}</at>"
            text = text.replace(marker, " ")
    text = _TAG.sub("", _BR.sub("\n", text))
    text = html.unescape(text).replace("\xa0", " ")
    return "\n".join(line.strip() for line in text.strip().splitlines()).strip()


def other_mentions(activity: Mapping[str, Any]) -> tuple[str, ...]:
    bot_id = _optional(activity, "recipient", "id")
    found = []
    for entity in activity.get("entities") or []:
        if isinstance(entity, Mapping) and entity.get("type") == "mention":
            mentioned_id = (entity.get("mentioned") or {}).get("id")
            if mentioned_id and mentioned_id != bot_id:
                found.append(str(mentioned_id))
    return tuple(found)


def sender_id(activity: Mapping[str, Any]) -> str:
    """The stable user id: the Entra object id when Teams sends it, else the channel account id."""
    return str(_optional(activity, "from", "aadObjectId") or _field(activity, "from", "id"))


def message_key(ref: ConversationRef) -> str | None:
    """The incoming message's id (unique within its conversation) plus a short hash of the
    conversation id, which can be long; None when the activity had no id."""
    if not ref.message:
        return None
    return f"{ref.message[:200]}@{hashlib.sha256(ref.channel.encode()).hexdigest()[:16]}"


def conversation_ref(activity: Mapping[str, Any], *, tenant: str) -> ConversationRef:
    conversation_id = str(_field(activity, "conversation", "id"))
    kind = conversation_type(activity)
    channel = base_conversation_id(conversation_id)
    thread = thread_root(activity) if kind == "channel" else channel  # a chat is one thread
    return ConversationRef(
        platform=PLATFORM,
        tenant=tenant,
        channel=channel,
        thread=thread,
        message=_optional(activity, "id"),
    )


def incoming_message(activity: Mapping[str, Any], *, tenant: str) -> IncomingMessage:
    """A Teams message activity as an ``IncomingMessage`` (``tenant`` is kairan's tenant id)."""
    if activity.get("type") != "message":
        raise TeamsPayloadError(f"expected a Teams message activity, got type {activity.get('type')!r}")
    return IncomingMessage(
        ref=conversation_ref(activity, tenant=tenant),
        user=sender_id(activity),
        text=strip_bot_mention(activity),
        mentions=other_mentions(activity),
        raw=dict(activity),
    )


def team_id(activity: Mapping[str, Any]) -> str | None:
    return _optional(activity, "channelData", "team", "id") or _optional(
        activity, "channelData", "teamsTeamId"
    )


def aad_tenant_id(activity: Mapping[str, Any]) -> str | None:
    return _optional(activity, "conversation", "tenantId") or _optional(
        activity, "channelData", "tenant", "id"
    )


@dataclass(frozen=True)
class FeedbackVote:
    message_id: str  # the bot message the user rated (the invoke's replyToId)
    user: str
    value: Literal["helpful", "not_helpful"]
    comment: str | None


def feedback_vote(activity: Mapping[str, Any]) -> FeedbackVote | None:
    """A ``message/submitAction`` invoke with ``actionName`` feedback; None for other invokes."""
    if activity.get("type") != "invoke" or activity.get("name") != "message/submitAction":
        return None
    value = activity.get("value") or {}
    if value.get("actionName") != "feedback":
        return None
    action = value.get("actionValue") or {}
    reaction = action.get("reaction")
    if reaction not in ("like", "dislike"):
        raise TeamsPayloadError(
            f"feedback invoke has value.actionValue.reaction {reaction!r}, not like/dislike"
        )
    comment = _feedback_text(action.get("feedback"))
    return FeedbackVote(
        message_id=str(_field(activity, "replyToId")),
        user=sender_id(activity),
        value="helpful" if reaction == "like" else "not_helpful",
        comment=comment,
    )


def _feedback_text(raw: Any) -> str | None:
    """``actionValue.feedback`` is a JSON string ``{"feedbackText": "…"}`` (or a dict)."""
    if raw in (None, ""):
        return None
    data = raw
    if isinstance(raw, str):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            return raw.strip() or None
    text = data.get("feedbackText") if isinstance(data, Mapping) else None
    if text is None:
        return None
    return str(text).strip() or None


# --- outbound ----------------------------------------------------------------------------------


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, whitespace collapsed, an ellipsis marking a cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def is_ai_generated(answer: Answer) -> bool:
    """True when an LLM wrote the text; extractive answers and templates are not labelled."""
    provider = answer.usage.provider if answer.usage else "none"
    return not answer.extractive and not answer.abstained and provider != "none"


def _positions(citations: Sequence[Citation]) -> dict[int, int]:
    """Source number n → citation position 1..k (Teams numbers citations contiguously)."""
    ordered = sorted({c.n for c in citations})
    return {n: i for i, n in enumerate(ordered, start=1)}


def _distinct(citations: Sequence[Citation]) -> list[Citation]:
    """One citation per source number, in source order."""
    seen: dict[int, Citation] = {}
    for c in sorted(citations, key=lambda c: c.n):
        seen.setdefault(c.n, c)
    return list(seen.values())


def overflow_lines(citations: Sequence[Citation]) -> list[str]:
    """The sources past the ``MAX_CITATIONS`` that get a citation card, as "[n] title URL" lines."""
    positions = _positions(citations)
    lines = []
    for c in _distinct(citations):
        if positions[c.n] > MAX_CITATIONS:
            unverified = "" if c.verified else "（引用未確認）"
            lines.append(f"[{positions[c.n]}] {c.title}{unverified} {c.url}".strip())
    return lines


def renumber(text: str, positions: Mapping[int, int]) -> str:
    """Rewrite ``[n]`` markers to their citation positions; unknown markers are left alone."""
    return _MARKER.sub(lambda m: f"[{positions.get(int(m.group(1)), m.group(1))}]", text)


def _abstract(citation: Citation) -> str:
    quote = citation.quote.strip()
    if quote:
        return clip(f"「{quote}」", ABSTRACT_MAX)
    return clip(citation.title, ABSTRACT_MAX)


def citation_entity(
    citations: Sequence[Citation], *, ai_generated: bool, verification_keywords: bool = True
) -> dict[str, Any] | None:
    """The schema.org Message entity: the Claim list and, for LLM text, the AI label.

    None when there is neither (Teams rejects a message entity that says nothing).
    """
    positions = _positions(citations)
    claims = []
    for c in _distinct(citations):
        if positions[c.n] > MAX_CITATIONS:
            break
        appearance: dict[str, Any] = {
            "@type": "DigitalDocument",
            "name": clip(c.title, NAME_MAX),
            "abstract": _abstract(c),
            "url": c.url,
        }
        if verification_keywords:
            appearance["keywords"] = ["引用を確認済み" if c.verified else "引用未確認"]
        claims.append({"@type": "Claim", "position": positions[c.n], "appearance": appearance})
    if not claims and not ai_generated:
        return None
    entity: dict[str, Any] = {
        "type": MESSAGE_ENTITY_TYPE,
        "@type": "Message",
        "@context": "https://schema.org",
        "@id": "",
    }
    if ai_generated:
        entity["additionalType"] = [AI_LABEL]
    if claims:
        entity["citation"] = claims
    return entity


def answer_text(answer: Answer) -> str:
    """The answer as Teams markdown: [n] renumbered, warnings and the 照会 draft appended."""
    body = renumber(answer.text.strip(), _positions(answer.citations))
    parts = [body]
    parts += [f"⚠ {w}" for w in answer.warnings if w and w not in body]
    if overflow := overflow_lines(answer.citations):
        parts.append("出典（続き）\n" + "\n".join(overflow))
    if answer.abstained and answer.inquiry_draft:
        parts.append("照会文案:\n\n" + answer.inquiry_draft.strip())
    return _paragraphs("\n\n".join(parts))


def _paragraphs(text: str) -> str:
    """Teams markdown joins single newlines: make every line its own paragraph."""
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n\n".join(lines)).strip()


def answer_activity(answer: Answer, *, feedback: bool = True) -> dict[str, Any]:
    """A message activity for an answer: text, citation entity, AI label, feedback loop."""
    activity: dict[str, Any] = {"type": "message", "textFormat": "markdown", "text": answer_text(answer)}
    entity = citation_entity(answer.citations, ai_generated=is_ai_generated(answer))
    if entity is not None:
        activity["entities"] = [entity]
    if feedback and answer.audit_id:
        # The classic flag and its newer spelling (the SDK's StreamingResponse sends the latter).
        activity["channelData"] = {"feedbackLoopEnabled": True, "feedbackLoop": {"type": "default"}}
    return activity


def digest_activity(digest: Digest) -> dict[str, Any]:
    """A digest post: one numbered line per item, each item a citation."""
    if not digest.items:
        text = "新着の通知はありません。"
        citations: list[Citation] = []
    else:
        lines = [f"新着の通知（{len(digest.items)}件）"]
        citations = []
        for i, item in enumerate(digest.items, start=1):
            where = f"[{i}]" if i <= MAX_CITATIONS else f" {item.url}"  # past the 10th: its link
            lines.append(f"{i}. {item.title}（{item.source}、{item.published}）{where}")
            if item.summary.strip():
                lines.append(item.summary.strip())
            if i <= MAX_CITATIONS:
                citations.append(
                    Citation(
                        n=i,
                        doc_id=item.url,
                        article="",
                        title=item.title,
                        url=item.url,
                        quote=item.summary,
                        verified=True,
                    )
                )
        text = "\n".join(lines)
    activity: dict[str, Any] = {"type": "message", "textFormat": "markdown", "text": _paragraphs(text)}
    entity = citation_entity(citations, ai_generated=False, verification_keywords=False)
    if entity is not None:
        activity["entities"] = [entity]
    return activity


def text_activity(text: str) -> dict[str, Any]:
    return {"type": "message", "textFormat": "plain", "text": text}

