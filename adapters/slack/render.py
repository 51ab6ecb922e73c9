"""Answer / Digest → Slack Block Kit messages (pure; no Slack SDK import).

Slack's limits: a section's mrkdwn text holds at most 3,000 characters, a message at most
50 blocks, a header 150 characters, a button value 2,000 characters. Text is escaped the
way Slack requires (``&``, ``<``, ``>``) and links are written as ``<url|label>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bot import wording
from bot.models import Answer, Citation, Digest

SECTION_LIMIT = 3000
BLOCK_LIMIT = 50
DIGEST_ITEMS_PER_MESSAGE = (BLOCK_LIMIT - 2) // 2  # header + two blocks per item
HEADER_LIMIT = 150
FALLBACK_TEXT_LIMIT = 300

FEEDBACK_BLOCK_ID = "kairan_feedback"
FEEDBACK_HELPFUL = "kairan_feedback_helpful"
FEEDBACK_NOT_HELPFUL = "kairan_feedback_not_helpful"
FEEDBACK_ACTIONS = {FEEDBACK_HELPFUL: "helpful", FEEDBACK_NOT_HELPFUL: "not_helpful"}
INQUIRY_BLOCK_ID = "kairan_inquiry"
INQUIRY_OPEN = "kairan_inquiry_open"  # the 「照会する」 button: opens the draft to check and send

ABSTAINED_LEAD = ":information_source: *根拠となる規定が見つからなかったため、回答を控えました。*"
INQUIRY_OFFER = "所管の都道府県・省庁への照会文案をこのスレッドに続けて投稿します。"
INQUIRY_LEAD = "*照会文案*（必要に応じて修正してお使いください）"
SOURCES_HEADING = "*出典*"
VERIFIED_MARK = "✅"
UNVERIFIED_MARK = "⚠️ 未確認"
TRUNCATED_NOTE = "（長いため以下を省略しました）"

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


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at paragraph, then line, then character boundaries."""
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
            chunks = [line[k : k + limit] for k in range(0, len(line), limit)] or [""]
            for j, chunk in enumerate(chunks):
                yield ("\x01" if j else "\x00" if i == 0 else "") + chunk


def plain_fallback(text: str, limit: int = FALLBACK_TEXT_LIMIT) -> str:
    """Notification text: the first characters of ``text`` on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def section(text: str) -> Block:
    if len(text) > SECTION_LIMIT:
        raise ValueError(f"section text has {len(text)} characters, Slack allows {SECTION_LIMIT}")
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def sections(text: str) -> list[Block]:
    return [section(piece) for piece in split_text(text)]


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": t[:SECTION_LIMIT]} for t in texts]}


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


def inquiry_actions(key: str) -> Block:
    """The 「照会する」 button of an answer whose 照会 may be sent from the chat (its offer key)."""
    if not key or len(key) > 2000:
        raise ValueError(f"a 照会 offer needs a key of 1-2000 characters, got {key!r}")
    button = {"type": "button", "action_id": INQUIRY_OPEN, "value": key, "style": "primary",
              "text": {"type": "plain_text", "text": wording.INQUIRY_BUTTON}}
    return {"type": "actions", "block_id": INQUIRY_BLOCK_ID, "elements": [button]}


def _fit(body: list[Block], tail: list[Block]) -> list[Block]:
    """``body`` then ``tail`` within the 50-block limit; the body is cut first, with a note."""
    room = BLOCK_LIMIT - len(tail)
    if room < 2:
        raise ValueError(f"{len(tail)} trailing blocks leave no room for the answer")
    if len(body) > room:
        body = [*body[: room - 1], context(TRUNCATED_NOTE)]
    return [*body, *tail]


def answer_messages(answer: Answer) -> list[SlackMessage]:
    """The message(s) for an answer: the answer itself, then the 照会 draft when abstaining."""
    body: list[Block] = []
    if answer.abstained:
        lead = ABSTAINED_LEAD + (f"\n{INQUIRY_OFFER}" if answer.inquiry_draft else "")
        body.append(section(lead))
    body += sections(to_mrkdwn(answer.text))
    tail = sources_blocks(answer.citations)
    if answer.warnings:
        tail.append(context(*(f"⚠️ {escape(w)}" for w in answer.warnings[:10])))
    if answer.audit_id:
        tail.append(feedback_block(answer.audit_id))
    with_draft = answer.abstained and bool(answer.inquiry_draft)
    if answer.inquiry_offer and not with_draft:
        tail.append(inquiry_actions(answer.inquiry_offer))
    messages = [SlackMessage(text=plain_fallback(answer.text), blocks=_fit(body, tail))]
    if answer.abstained and answer.inquiry_draft:
        messages.append(inquiry_message(answer.inquiry_draft, offer=answer.inquiry_offer))
    return messages


def inquiry_message(draft: str, *, offer: str | None = None) -> SlackMessage:
    """The 照会 draft as preformatted text (Slack folds long messages behind "Show more"), with the
    「照会する」 button when it may be sent from the chat."""
    fence = "```"
    room = SECTION_LIMIT - 2 * len(fence) - 2
    blocks = [section(INQUIRY_LEAD)]
    blocks += [section(f"{fence}\n{piece}\n{fence}") for piece in split_text(escape(draft), room)]
    tail = [] if offer is None else [inquiry_actions(offer)]
    return SlackMessage(text="照会文案", blocks=_fit(blocks, tail))


def apology_message() -> SlackMessage:
    return SlackMessage(text=wording.APOLOGY, blocks=[section(f":bow: {wording.APOLOGY}")])


def notice_message(text: str) -> SlackMessage:
    return SlackMessage(text=text, blocks=[section(escape(text))])


# --- digests --------------------------------------------------------------------------------


def digest_messages(digest: Digest) -> list[SlackMessage]:
    title = f"新着の通知・法令（{digest.subscription}）"
    header: Block = {"type": "header", "text": {"type": "plain_text", "text": title[:HEADER_LIMIT]}}
    if not digest.items:
        return [SlackMessage(text=title, blocks=[header, section("新着はありません。")])]
    body: list[Block] = []
    for item in digest.items:
        target = link(item.url, item.title) if item.url else escape(item.title)
        summary = escape(item.summary.strip())
        text = f"*{target}*" + (f"\n{summary}" if summary else "")
        if len(text) > SECTION_LIMIT:
            text = text[: SECTION_LIMIT - 1] + "…"
        body.append(section(text))
        body.append(context(escape(f"{item.published}・{item.source}")))
    room = BLOCK_LIMIT - 1
    if len(body) > room:
        shown = (room - 1) // 2
        rest = len(digest.items) - shown
        body = [*body[: shown * 2], context(f"ほか {rest} 件")]
    return [SlackMessage(text=f"{title}: {len(digest.items)} 件", blocks=[header, *body])]
