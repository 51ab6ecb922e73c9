"""Inquiries as staff look at them: ``kairan inquiry list|show``, the console's list, the digest. Pure."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.inquiry.store import ANSWERED, FAILED, OPEN, SENDING, WITHDRAWN, Inquiry
from bot.inquiry.text import format_age, when

STATE_LABELS = {
    SENDING: "送信中",
    OPEN: "回答待ち",
    ANSWERED: "回答済み",
    WITHDRAWN: "取り下げ",
    FAILED: "送信失敗",
}
QUESTION_CHARS = 40


def excerpt(text: str, limit: int = QUESTION_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def row(inquiry: Inquiry, *, destinations: Mapping[str, str], now: datetime) -> dict[str, Any]:
    """One inquiry as JSON: what the console lists and ``--json`` prints (texts are stored redacted)."""
    return {
        "id": inquiry.id,
        "number": inquiry.number,
        "tenant": inquiry.tenant,
        "state": inquiry.state,
        "state_label": STATE_LABELS.get(inquiry.state, inquiry.state),
        "age": format_age(inquiry.age(now)),
        "age_seconds": int(inquiry.age(now).total_seconds()),
        "destination": destinations.get(inquiry.tenant) or f"{inquiry.dest_platform} {inquiry.dest_channel}",
        "question": inquiry.question,
        "asked_on": inquiry.asker_platform,
        "asker": inquiry.asker_name,
        "created": when(inquiry.created),
        "sent_at": when(inquiry.sent_at),
        "answered_at": when(inquiry.answered_at),
        "link": inquiry.dest_link,
        "revision": inquiry.revision,
        "responder": inquiry.responder_name,
        "answer": inquiry.answer if inquiry.state == ANSWERED else None,
        "answer_link": inquiry.answer_link if inquiry.state == ANSWERED else None,
    }


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(inquiries: Sequence[Inquiry], *, destinations: Mapping[str, str], now: datetime) -> str:
    """An aligned table: 番号, テナント, 状態, 経過 (until answered), 送り先, 質問."""
    if not inquiries:
        return "照会はありません / no inquiries\n"
    header = ["番号", "テナント", "状態", "経過", "送り先", "質問"]
    lines = [header]
    for inquiry in inquiries:
        r = row(inquiry, destinations=destinations, now=now)
        lines.append([r["number"], r["tenant"], r["state_label"], r["age"], r["destination"],
                      excerpt(r["question"])])
    widths = [max(_width(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for line in lines:
        cells = [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(line)]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out) + "\n"


def detail(inquiry: Inquiry, *, destinations: Mapping[str, str], now: datetime) -> str:
    """Everything about one inquiry, for ``kairan inquiry show``."""
    r = row(inquiry, destinations=destinations, now=now)
    lines = [
        f"{r['number']}  {r['state_label']}（{r['state']}）  テナント {r['tenant']}",
        f"送り先: {r['destination']}" + (f"  {r['link']}" if r["link"] else ""),
        f"質問者: {r['asker']}（{r['asked_on']}）",
        f"作成: {r['created']}  送信: {r['sent_at']}  最初の回答: {r['answered_at']}  経過: {r['age']}",
        "",
        "質問:",
        inquiry.question.strip(),
        "",
        "照会文:",
        inquiry.text.strip(),
    ]
    if inquiry.answer is not None:
        status = "現在の回答" if inquiry.state == ANSWERED else "取り下げられた回答"
        lines += [
            "",
            f"{status}（第{inquiry.revision}版、{inquiry.responder_name or inquiry.responder or '-'}、"
            f"{when(inquiry.answer_time)}）:",
            inquiry.answer.strip(),
        ]
        if inquiry.answer_link:
            lines.append(inquiry.answer_link)
    return "\n".join(lines) + "\n"
