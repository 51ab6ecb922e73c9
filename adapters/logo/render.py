"""Pure conversions for LoGo Chat: payload → message, Answer/Digest → plain text chunks, mentions.

LoGo Chat renders no markdown, so replies are plain text. A mention is the markup
``{@:<userId>,<len>}@Name`` where ``len`` counts the code points of ``@Name`` (the name
plus one); ``{@:ALL,4}@ALL`` addresses everyone. Message length is measured in UTF-16
code units (what the JavaScript clients count), which is never less than code points.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.logo import PLATFORM
from bot import wording
from bot.models import Answer, Citation, ConversationRef, Digest, IncomingMessage

TEXT_TYPE = 1
ALL = "ALL"
SOURCES_HEADER = "【出典】"
INQUIRY_HEADER = "【照会文案】"

_MENTION = re.compile(r"\{@:([^,{}\s]+),(\d+)\}")


class PayloadError(ValueError):
    """A notify_create_message payload without the fields a message must have."""


@dataclass(frozen=True)
class Mention:
    user_id: str
    name: str  # without the leading @
    start: int  # span of the whole markup in the text
    end: int


@dataclass(frozen=True)
class LogoMessage:
    message_id: int
    talk_id: int
    user_id: int
    type: int
    text: str | None  # the content of a text message (type 1); None for other types
    created_at: int | None = None  # milliseconds since the epoch
    bot_message: bool = False


# -- mentions ------------------------------------------------------------------------------------


def mention_markup(user_id: int | str, name: str) -> str:
    """``{@:<userId>,<len>}@Name`` with len = code points of the name + 1."""
    return f"{{@:{user_id},{len(name) + 1}}}@{name}"


def parse_mentions(text: str) -> list[Mention]:
    """Every mention markup in ``text``, in order. A count that overruns the text, or a span
    that does not start with @, keeps only the braces as the mention."""
    found: list[Mention] = []
    for match in _MENTION.finditer(text):
        count = int(match.group(2))
        label = text[match.end() : match.end() + count]
        if label.startswith("@") and len(label) == count:
            found.append(Mention(match.group(1), label[1:], match.start(), match.end() + count))
        else:
            found.append(Mention(match.group(1), "", match.start(), match.end()))
    return found


def strip_mentions(text: str, mentions: list[Mention], *, drop: set[str]) -> str:
    """Remove the mentions of ``drop`` user ids; others become plain ``@Name``."""
    out: list[str] = []
    pos = 0
    for m in mentions:
        out.append(text[pos : m.start])
        if m.user_id not in drop and m.name:
            out.append(f"@{m.name}")
        pos = m.end
    out.append(text[pos:])
    return re.sub(r"[ \t\u3000]{2,}", " ", "".join(out)).strip()


# -- payload → message -----------------------------------------------------------------------------


def _int_field(payload: Mapping[str, Any], name: str) -> int:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"notify_create_message: field {name!r} must be an integer, got {value!r}")
    return value


def parse_message(payload: Any) -> LogoMessage:
    """The fields of a notify_create_message (or get_messages) payload; raises PayloadError."""
    if not isinstance(payload, Mapping):
        raise PayloadError(f"notify_create_message: payload must be a map, got {type(payload).__name__}")
    kind = _int_field(payload, "type")
    content = payload.get("content")
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    if kind == TEXT_TYPE and not isinstance(content, str):
        raise PayloadError(f"notify_create_message: text message content must be a string, got {content!r}")
    created = payload.get("created_at")
    return LogoMessage(
        message_id=_int_field(payload, "message_id"),
        talk_id=_int_field(payload, "talk_id"),
        user_id=_int_field(payload, "user_id"),
        type=kind,
        text=content if kind == TEXT_TYPE else None,
        created_at=created if isinstance(created, int) and not isinstance(created, bool) else None,
        bot_message=payload.get("bot_message") is True,
    )


def to_incoming(
    message: LogoMessage, *, tenant: str, bot_user_id: int | None, raw: Mapping[str, Any] | None = None
) -> IncomingMessage:
    """The neutral message: the bot's own mention removed, mentioned user ids listed."""
    text = message.text or ""
    mentions = parse_mentions(text)
    drop = {str(bot_user_id)} if bot_user_id is not None else set()
    return IncomingMessage(
        ref=ConversationRef(
            platform=PLATFORM, tenant=tenant, channel=str(message.talk_id), message=str(message.message_id)
        ),
        user=str(message.user_id),
        text=strip_mentions(text, mentions, drop=drop),
        mentions=tuple(m.user_id for m in mentions),
        raw=dict(raw or {}),
    )


def is_addressed(incoming: IncomingMessage, *, bot_user_id: int | None, pair_talk: bool) -> bool:
    """The bot answers every message of a 1:1 talk, and messages mentioning it elsewhere.

    Whether a message mentions the bot is the server's call when the notification says it: its
    ``mention`` flag (direct-js hands it to a bot as ``mention.me``). Without the flag (an older
    server, a message from get_messages), the mention markup decides. One guard of kairan's own: a
    message whose only mention is ``{@:ALL,4}@ALL`` is an announcement to everyone, not a question
    to the bot, whatever the flag says (whether the server sets it for @ALL is not documented).
    """
    if pair_talk:
        return True
    if bot_user_id is None:
        return False
    named = str(bot_user_id) in incoming.mentions
    flag = incoming.raw.get("mention")
    if not isinstance(flag, bool):
        return named
    everyone_only = not named and ALL in incoming.mentions
    return flag and not everyone_only


# -- Answer / Digest → text --------------------------------------------------------------------------


def source_line(citation: Citation) -> str:
    return f"［{citation.n}］{citation.title} {citation.url}".rstrip()


def answer_text(answer: Answer) -> str:
    """The answer, then its numbered sources one per line, then its warnings (as Slack and Teams show
    them), then the 照会 draft when abstaining."""
    parts = [answer.text.strip()]
    if answer.citations:
        lines = [source_line(c) for c in sorted(answer.citations, key=lambda c: c.n)]
        parts.append("\n".join([SOURCES_HEADER, *lines]))
    # (a 照会回答 or Q&A cited: no statute; a citation that did not verify; a note to check the articles)
    notes = [f"※ {w}" for w in answer.warnings if w and w not in answer.text]
    if notes:
        parts.append("\n".join(notes))
    if answer.abstained and answer.inquiry_draft:
        parts.append(f"{INQUIRY_HEADER}\n{answer.inquiry_draft.strip()}")
        if answer.inquiry_offer:  # the 照会 may be sent from the chat (bot.inquiry): say how
            parts.append(wording.INQUIRY_HOW_TO_SEND)
    return "\n\n".join(p for p in parts if p)


def digest_text(digest: Digest) -> str:
    if not digest.items:
        return "【新着情報】新しいお知らせはありません。"
    blocks = [f"【新着情報】{len(digest.items)}件"]
    for item in digest.items:
        lines = [f"■ {item.title}", f"{item.published}（{item.source}）"]
        if item.summary.strip():
            lines.append(item.summary.strip())
        lines.append(item.url)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def reply_text(reply: Answer | Digest) -> str:
    return answer_text(reply) if isinstance(reply, Answer) else digest_text(reply)


# -- chunking ------------------------------------------------------------------------------------------


def text_length(text: str) -> int:
    """Length in UTF-16 code units, as the JavaScript clients and server count it."""
    return len(text.encode("utf-16-le")) // 2


def _hard_split(line: str, limit: int) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for ch in line:
        width = text_length(ch)
        if size + width > limit:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(ch)
        size += width
    if current:
        pieces.append("".join(current))
    return pieces


def split_text(text: str, limit: int) -> list[str]:
    """Chunks of at most ``limit`` (UTF-16 units), cut at line ends where possible, in order."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        pieces = _hard_split(line, limit) if text_length(line) > limit else [line]
        for piece in pieces:
            candidate = f"{current}\n{piece}" if current else piece
            if current and text_length(candidate) > limit:
                chunks.append(current)
                current = piece
            else:
                current = candidate
    chunks.append(current)
    return [c.strip("\n") for c in chunks if c.strip()]


def reply_chunks(body: str, *, limit: int, mention: str | None = None) -> list[str]:
    """The messages to post: the mention markup opens the first one."""
    text = f"{mention}\n{body}" if mention else body
    return split_text(text, limit)
