"""What the 照会 loop says, platform-neutral and pure: the posted 照会, the notices, the cited answer.

A platform lays these out in its own idiom (``bot.ports.InquiryPort``); the wording itself is
``bot.wording``'s.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from bot import wording
from bot.inquiry.store import ANSWERED, FAILED, OPEN, WITHDRAWN, Inquiry, Source
from bot.models import Answer, Citation

JST = timezone(timedelta(hours=9), "JST")
REPLY_EXCERPT = 600  # characters of kairan's own answer shown in the 照会 (what was searched and found)
_NUMBER = re.compile(r"照会\s*#\s*(\d{1,12})")
_WITHDRAWAL = re.compile(r"^(?:取り?下げ|取消し?|撤回)(?:ます|します)?[。.!！\s]*$")


@dataclass(frozen=True)
class InquiryPost:
    """The 照会 as the destination sees it."""

    number: str  # 照会#12
    tenant: str  # 横須賀市
    destination: str  # 法務担当
    asker: str  # the asker's name as the platform gave it
    asker_where: str  # "Slack" / "Teams" / "LoGo"
    asker_link: str | None  # back to the asker's thread
    text: str  # the 照会 as the asker confirmed or edited it
    reply: str  # what kairan answered: what was searched, what was found, why it was not enough
    sources: tuple[Source, ...]
    abstained: bool

    @property
    def title(self) -> str:
        return f"【{self.number}】{self.tenant}から{self.destination}への照会"

    @property
    def asked_by(self) -> str:
        return f"質問者: {self.asker}（{self.asker_where}）"

    @property
    def searched(self) -> str:
        """kairan's answer, shortened, with what it cited."""
        lead = "kairan の検索結果（回答を控えました）" if self.abstained else "kairan の回答（参考）"
        body = self.reply.strip()
        if len(body) > REPLY_EXCERPT:
            body = body[: REPLY_EXCERPT - 1] + "…"
        lines = [lead, body]
        for source in self.sources:
            lines.append(f"・{source.label} {source.url}".rstrip())
        return "\n".join(lines)

    def how_to_answer(self, *, threaded: bool, mention: str = "") -> str:
        if threaded:
            return wording.INQUIRY_HOW_TO_ANSWER.format(mention=mention)
        return wording.INQUIRY_HOW_TO_ANSWER_UNTHREADED.format(number=self.number)

    def plain(self, *, threaded: bool, mention: str = "") -> str:
        """The whole 照会 as plain text (LoGo, and every platform's notification text)."""
        asked = self.asked_by + (f"\n{self.asker_link}" if self.asker_link else "")
        parts = [self.title, asked, self.text.strip(), self.searched, self.how_to_answer(threaded=threaded,
                                                                                         mention=mention)]
        return "\n\n".join(p for p in parts if p)


def post_for(inquiry: Inquiry, *, tenant: str, destination: str, asker_where: str,
             asker_link: str | None) -> InquiryPost:
    return InquiryPost(
        number=inquiry.number, tenant=tenant, destination=destination, asker=inquiry.asker_name,
        asker_where=asker_where, asker_link=asker_link, text=inquiry.text, reply=inquiry.reply,
        sources=inquiry.sources, abstained=inquiry.abstained,
    )


def answer_date(inquiry: Inquiry) -> str:
    """The day (Japan time) the current answer was given: 2026-12-04."""
    moment = inquiry.answer_time or inquiry.answered_at or inquiry.updated
    return moment.astimezone(JST).date().isoformat()


def knowledge_title(inquiry: Inquiry, answerer: str) -> str:
    """How a captured answer is cited: 照会回答 2026-12-04 法務担当."""
    return f"照会回答 {answer_date(inquiry)} {answerer}".strip()


def section_key(inquiry: Inquiry) -> str:
    """The captured answer's label within its document: 照会12."""
    return f"照会{inquiry.id}"


def answer_citation(inquiry: Inquiry, answerer: str, doc_id: str) -> Citation:
    answer = (inquiry.answer or "").strip()
    quote = answer.split("\n", 1)[0][:200]
    return Citation(
        n=1, doc_id=doc_id, article=section_key(inquiry),
        title=f"{knowledge_title(inquiry, answerer)} {section_key(inquiry)}",
        url=inquiry.answer_link or inquiry.dest_link or "", quote=quote, verified=True,
    )


def notice(inquiry: Inquiry, *, destination: str, answerer: str, doc_id: str) -> Answer | str:
    """What the asker is told of the inquiry's current state."""
    number = inquiry.number
    if inquiry.state == OPEN:
        return wording.INQUIRY_SENT.format(number=number, destination=destination)
    if inquiry.state == FAILED:
        return wording.INQUIRY_FAILED.format(number=number, destination=destination)
    if inquiry.state == WITHDRAWN:
        return wording.INQUIRY_WITHDRAWN.format(number=number)
    if inquiry.state == ANSWERED:
        lead = (wording.INQUIRY_ANSWERED.format(number=number, destination=destination)
                if inquiry.revision <= 1 else wording.INQUIRY_CORRECTED.format(number=number))
        text = f"{lead}\n\n{(inquiry.answer or '').strip()}[1]\n\n{wording.INTERNAL_ANSWER_NOTE}"
        return Answer(
            text=text, citations=(answer_citation(inquiry, answerer, doc_id),), abstained=False,
            extractive=True,
        )
    return wording.INQUIRY_SENT.format(number=number, destination=destination)


def receipt(inquiry: Inquiry) -> str:
    return wording.INQUIRY_RECEIPT.format(number=inquiry.number, revision=inquiry.revision)


def named_inquiry(text: str) -> tuple[int, str] | None:
    """(inquiry id, the rest) when ``text`` opens with a 照会番号 (照会#12 …), as LoGo replies do."""
    normalized = unicodedata.normalize("NFKC", text).strip()
    match = _NUMBER.match(normalized)
    if match is None:
        return None
    return int(match.group(1)), normalized[match.end():].strip(" \u3000:：、,")


def is_withdrawal(text: str) -> bool:
    """A reply that withdraws the answer: 「取り下げ」 (取下げ・取消し・撤回) and nothing else."""
    return bool(_WITHDRAWAL.match(unicodedata.normalize("NFKC", text).strip()))


INQUIRY_COMMAND = re.compile(r"^\s*照会する[ \t\u3000]*(?:\n(?P<text>.*))?$", re.DOTALL)


def confirmation(text: str) -> tuple[bool, str | None]:
    """Whether ``text`` is the asker's 「照会する」 (LoGo), and the edited 照会 that follows it, if any."""
    match = INQUIRY_COMMAND.match(text)
    if match is None:
        return False, None
    edited = (match.group("text") or "").strip()
    return True, edited or None


def format_age(age: timedelta) -> str:
    """An inquiry's age for lists: 3日4時間, 2時間5分, 12分."""
    minutes = int(age.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}日{hours}時間"
    if hours:
        return f"{hours}時間{mins}分"
    return f"{mins}分"


def when(moment: datetime | None) -> str:
    """A moment in Japan time for lists: 2026-12-04 09:30."""
    return "-" if moment is None else moment.astimezone(JST).strftime("%Y-%m-%d %H:%M")
