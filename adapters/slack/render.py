"""Answer / Digest → Slack Block Kit messages (pure; no Slack SDK import).

Slack's limits: a section's mrkdwn text holds at most 3,000 characters, a message at most
50 blocks, a header 150 characters, a button value 2,000 characters, and Slack refuses a message
whose blocks hold more than about 13,000 characters in all (``msg_blocks_too_long``): a longer
answer goes out as several messages in the thread, each within ``MESSAGE_LIMIT``. Every text that Slack parses
— the blocks' mrkdwn and the notification ``text`` — is escaped the way Slack requires (``&``,
``<``, ``>``), so nothing a person wrote becomes a mention, a broadcast or a link; our own links are
written as ``<url|label>``. Escaped text is only ever cut between entities and links (``cut``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import wording
from bot.models import Answer, Citation, Digest, DigestItem

SECTION_LIMIT = 3000
BLOCK_LIMIT = 50
# A message's blocks, counted as their JSON: below the ~13,000 characters of block text Slack takes.
MESSAGE_LIMIT = 12_000
MAX_ANSWER_MESSAGES = 10  # about 110,000 characters; an answer longer still is cut, with a note
WARNING_LIMIT = 500
DIGEST_ITEMS_PER_MESSAGE = (BLOCK_LIMIT - 2) // 2  # header + two blocks per item
DIGEST_TITLE_LIMIT = 200
DIGEST_SOURCE_LIMIT = 100
HEADER_LIMIT = 150
FALLBACK_TEXT_LIMIT = 300

FEEDBACK_BLOCK_ID = "kairan_feedback"
FEEDBACK_HELPFUL = "kairan_feedback_helpful"
FEEDBACK_NOT_HELPFUL = "kairan_feedback_not_helpful"
FEEDBACK_ACTIONS = {FEEDBACK_HELPFUL: "helpful", FEEDBACK_NOT_HELPFUL: "not_helpful"}

ABSTAINED_LEAD = ":information_source: *根拠となる規定が見つからなかったため、回答を控えました。*"
INQUIRY_OFFER = "所管の都道府県・省庁への照会文案をこのスレッドに続けて投稿します。"
INQUIRY_LEAD = "*照会文案*（必要に応じて修正してお使いください）"
SOURCES_HEADING = "*出典*"
VERIFIED_MARK = "✅"
UNVERIFIED_MARK = "⚠️ 未確認"
TRUNCATED_NOTE = "（長いため以下を省略しました）"
PART_NOTE = "（{i}/{n}）"  # which of an answer's messages this is

Block = dict[str, Any]


@dataclass(frozen=True)
class SlackMessage:
    """One chat.postMessage worth: notification ``text`` (fallback) and ``blocks``."""

    text: str
    blocks: list[Block] = field(default_factory=list)


# --- text helpers ---------------------------------------------------------------------------


def escape(text: str) -> str:
    """Escape the three characters Slack treats as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.MULTILINE)


def to_mrkdwn(text: str) -> str:
    """Escaped Slack mrkdwn from an answer text that may hold Markdown emphasis and headings."""
    escaped = escape(text)
    escaped = _HEADING.sub(r"*\1*", escaped)
    return _BOLD.sub(r"*\1*", escaped)


def link(url: str, label: str) -> str:
    """``<url|label>`` with the label escaped (``|`` cannot appear in it)."""
    safe_label = escape(label).replace("|", "｜")
    safe_url = url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C").replace(" ", "%20")
    return f"<{safe_url}|{safe_label}>"


_ATOMIC = re.compile(r"&(?:amp|lt|gt);|<[^<>]*>")  # what a cut must not fall inside


def cut(text: str, limit: int) -> int:
    """Where to cut escaped ``text`` to keep at most ``limit`` characters: never inside an entity
    (``&amp;``) or one of our links (``<url|label>``). Only a link longer than ``limit`` is cut through."""
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    if len(text) <= limit:
        return len(text)
    opened = text.rfind("<", 0, limit)  # a link that may run past the limit starts here
    start = max(0, min(limit - len("&amp;"), opened if opened >= 0 else limit))  # or an entity here
    for match in _ATOMIC.finditer(text, start):
        if match.start() >= limit:
            break
        if match.end() > limit and match.start() > 0:
            return match.start()
    return limit


def shorten(text: str, limit: int, mark: str = "…") -> str:
    """Escaped ``text`` within ``limit`` characters, ``mark`` at the end when it was cut."""
    return text if len(text) <= limit else text[: cut(text, limit - len(mark))] + mark


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at paragraph, then line, then character boundaries
    (never inside an entity or a link: ``cut``)."""
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    pieces: list[str] = []
    current = ""
    for marked in _units(text, limit):
        glue = {"\x00": "\n\n", "\x01": ""}.get(marked[:1], "\n")
        unit = marked.lstrip("\x00\x01")
        candidate = f"{current}{glue}{unit}" if current else unit
        if len(candidate) <= limit:
            current = candidate
        else:
            if current:
                pieces.append(current)
            current = unit
    if current:
        pieces.append(current)
    return [p for p in pieces if p.strip()]


def _units(text: str, limit: int) -> Iterator[str]:
    """Lines no longer than ``limit``, marked: NUL starts a paragraph, SOH continues a cut line."""
    for paragraph in re.split(r"\n{2,}", text.strip()):
        for i, line in enumerate(paragraph.split("\n")):
            mark = "\x00" if i == 0 else ""
            while True:
                k = cut(line, limit) if line else 0
                yield mark + line[:k]
                line, mark = line[k:], "\x01"
                if not line:
                    break


def plain_fallback(mrkdwn: str, limit: int = FALLBACK_TEXT_LIMIT) -> str:
    """Notification text: the first characters of escaped ``mrkdwn`` on one line."""
    return shorten(" ".join(mrkdwn.split()), limit)


def section(text: str) -> Block:
    if len(text) > SECTION_LIMIT:
        raise ValueError(f"section text has {len(text)} characters, Slack allows {SECTION_LIMIT}")
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def sections(text: str) -> list[Block]:
    return [section(piece) for piece in split_text(text)]


def context(*texts: str) -> Block:
    elements = [{"type": "mrkdwn", "text": shorten(t, SECTION_LIMIT)} for t in texts]
    return {"type": "context", "elements": elements}


# --- answers --------------------------------------------------------------------------------


def citation_line(citation: Citation) -> str:
    mark = VERIFIED_MARK if citation.verified else UNVERIFIED_MARK
    target = link(citation.url, citation.title) if citation.url else escape(citation.title)
    return f"[{citation.n}] {target} {mark}"


def sources_blocks(citations: tuple[Citation, ...]) -> list[Block]:
    if not citations:
        return []
    lines = "\n".join(citation_line(c) for c in sorted(citations, key=lambda c: c.n))
    return sections(f"{SOURCES_HEADING}\n{lines}")


def feedback_block(audit_id: str) -> Block:
    if not audit_id or len(audit_id) > 2000:
        raise ValueError(f"feedback needs an audit id of 1-2000 characters, got {audit_id!r}")
    return {
        "type": "actions",
        "block_id": FEEDBACK_BLOCK_ID,
        "elements": [
            {
                "type": "button",
                "action_id": FEEDBACK_HELPFUL,
                "text": {"type": "plain_text", "text": "役に立った", "emoji": True},
                "value": audit_id,
            },
            {
                "type": "button",
                "action_id": FEEDBACK_NOT_HELPFUL,
                "text": {"type": "plain_text", "text": "役に立たなかった", "emoji": True},
                "value": audit_id,
            },
        ],
    }


_MARKER = re.compile(r"\[(\d+)\]")  # bot.verify writes each cited source as [n]


def _size(blocks: list[Block]) -> int:
    return sum(len(json.dumps(block, ensure_ascii=False)) for block in blocks)


def _cited(blocks: list[Block]) -> set[int]:
    """The source numbers the sections of ``blocks`` cite."""
    return {int(n) for b in blocks if b["type"] == "section" for n in _MARKER.findall(b["text"]["text"])}


# Room kept in every message for the part number and the truncation note.
_NOTES = [context(PART_NOTE.format(i=MAX_ANSWER_MESSAGES, n=MAX_ANSWER_MESSAGES)), context(TRUNCATED_NOTE)]


def _parts(body: list[Block], tail: Callable[[list[Block]], list[Block]]) -> list[list[Block]]:
    """``body`` in consecutive parts, each fitting in one message with its ``tail``; past
    ``MAX_ANSWER_MESSAGES`` parts the rest is left out and the last part says so."""
    parts: list[list[Block]] = [[]]
    for block in body:
        candidate = [*parts[-1], block]
        message = [*candidate, *tail(candidate), *_NOTES]
        if parts[-1] and (len(message) > BLOCK_LIMIT or _size(message) > MESSAGE_LIMIT):
            if len(parts) == MAX_ANSWER_MESSAGES:
                parts[-1].append(context(TRUNCATED_NOTE))
                break
            parts.append([])
        parts[-1].append(block)
    return parts


def _messages(
    body: list[Block],
    tail: Callable[[list[Block], bool], list[Block]],
    fallback: Callable[[int, list[Block]], str],
) -> list[SlackMessage]:
    """``body`` as one or more messages; each ends with ``tail(part, last)`` (sized for the last) and
    notifies with ``fallback(index, part)``."""
    parts = _parts(body, lambda part: tail(part, True))
    count = len(parts)
    messages = []
    for i, part in enumerate(parts):
        note = [context(PART_NOTE.format(i=i + 1, n=count))] if count > 1 else []
        blocks = [*part, *note, *tail(part, i == count - 1)]
        messages.append(SlackMessage(text=fallback(i, part), blocks=blocks))
    return messages


def answer_messages(answer: Answer) -> list[SlackMessage]:
    """The messages for an answer, in thread order: the answer (as many messages as Slack needs,
    each listing the sources its own text cites, the last also any cited nowhere, the warnings and
    the feedback buttons), then the 照会 draft when abstaining."""
    body: list[Block] = []
    if answer.abstained:
        lead = ABSTAINED_LEAD + (f"\n{INQUIRY_OFFER}" if answer.inquiry_draft else "")
        body.append(section(lead))
    text = to_mrkdwn(answer.text)
    body += sections(text)
    closing: list[Block] = []
    if answer.warnings:
        closing.append(context(*(shorten(f"⚠️ {escape(w)}", WARNING_LIMIT) for w in answer.warnings[:10])))
    if answer.audit_id:
        closing.append(feedback_block(answer.audit_id))
    uncited = {c.n for c in answer.citations} - _cited(body)

    def tail(part: list[Block], last: bool) -> list[Block]:
        shown = _cited(part) | (uncited if last else set())
        sources = sources_blocks(tuple(c for c in answer.citations if c.n in shown))
        return [*sources, *closing] if last else sources

    def fallback(i: int, part: list[Block]) -> str:  # a later message notifies with its own words
        return plain_fallback(text if i == 0 else part[0]["text"]["text"])

    messages = _messages(body, tail, fallback)
    if answer.abstained and answer.inquiry_draft:
        messages += inquiry_messages(answer.inquiry_draft)
    return messages


def inquiry_messages(draft: str) -> list[SlackMessage]:
    """The 照会 draft as preformatted text (Slack folds long messages behind "Show more")."""
    fence = "```"
    room = SECTION_LIMIT - 2 * len(fence) - 2
    blocks = [section(INQUIRY_LEAD)]
    blocks += [section(f"{fence}\n{piece}\n{fence}") for piece in split_text(escape(draft), room)]
    return _messages(blocks, lambda part, last: [], lambda i, part: "照会文案")


def apology_message() -> SlackMessage:
    apology = escape(wording.APOLOGY)
    return SlackMessage(text=apology, blocks=[section(f":bow: {apology}")])


def notice_message(text: str) -> SlackMessage:
    return SlackMessage(text=plain_fallback(escape(text)), blocks=[section(escape(text))])


# --- digests --------------------------------------------------------------------------------


def digest_messages(digest: Digest) -> list[SlackMessage]:
    """A digest as one message (the runner's exactly-once ledger counts one post per digest): when
    the items would not fit in one Slack message, their summaries are shortened alike until they do."""
    title = f"新着の通知・法令（{digest.subscription}）"
    header: Block = {"type": "header", "text": {"type": "plain_text", "text": title[:HEADER_LIMIT]}}
    if not digest.items:
        return [SlackMessage(text=escape(title), blocks=[header, section("新着はありません。")])]
    shown = digest.items[:DIGEST_ITEMS_PER_MESSAGE]
    rest = [context(f"ほか {len(digest.items) - len(shown)} 件")] if len(shown) < len(digest.items) else []
    low, high = 0, SECTION_LIMIT  # the longest summary that lets every item fit (0: titles only)
    while low < high:
        middle = (low + high + 1) // 2
        if _size([header, *_digest_items(shown, middle), *rest]) <= MESSAGE_LIMIT:
            low = middle
        else:
            high = middle - 1
    blocks = [header, *_digest_items(shown, low), *rest]
    return [SlackMessage(text=escape(f"{title}: {len(digest.items)} 件"), blocks=blocks)]


def _digest_items(items: Sequence[DigestItem], summary_limit: int) -> list[Block]:
    blocks: list[Block] = []
    for item in items:
        label = item.title[:DIGEST_TITLE_LIMIT]
        target = link(item.url, label) if item.url else escape(label)
        summary = shorten(escape(item.summary.strip()), summary_limit) if summary_limit else ""
        blocks.append(section(shorten(f"*{target}*" + (f"\n{summary}" if summary else ""), SECTION_LIMIT)))
        blocks.append(context(shorten(escape(f"{item.published}・{item.source}"), DIGEST_SOURCE_LIMIT)))
    return blocks
