"""The 照会 loop's Teams activities, pure: the card to check and send a draft, the posted 照会.

An answer whose 照会 may be sent from the chat (``Answer.inquiry_offer``) is followed by an Adaptive
Card holding the draft in an editable text input and a 「照会する」 button (``Action.Submit``); Teams
sends the press as a message activity whose ``value`` carries the offer's key and the edited text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot import wording
from bot.inquiry.text import InquiryPost
from bot.models import Answer

CARD = "application/vnd.microsoft.card.adaptive"
OFFER_KEY = "kairan_inquiry"  # in the submitted value: the offer's key
TEXT_INPUT = "inquiry_text"  # the edited 照会
INPUT_LIMIT = 4000
MENTION_HINT = "（このボットをメンションして）"  # a channel bot only hears messages that mention it


def offer_card(key: str, draft: str) -> dict[str, Any]:
    """A message with the card: the draft to check and edit, and the button that sends it."""
    card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": wording.INQUIRY_EDIT_TITLE, "weight": "Bolder", "wrap": True},
            {"type": "TextBlock", "text": wording.INQUIRY_EDIT_HINT, "wrap": True, "isSubtle": True},
            {"type": "Input.Text", "id": TEXT_INPUT, "isMultiline": True, "value": draft[:INPUT_LIMIT],
             "maxLength": INPUT_LIMIT, "label": "照会文"},
        ],
        "actions": [{"type": "Action.Submit", "title": wording.INQUIRY_BUTTON, "data": {OFFER_KEY: key}}],
    }
    return {"type": "message", "attachments": [{"contentType": CARD, "content": card}]}


def offer_activities(answer: Answer) -> list[dict[str, Any]]:
    """The card after an answer that carries an offer (none otherwise)."""
    if not answer.inquiry_offer:
        return []
    return [offer_card(answer.inquiry_offer, answer.inquiry_draft or "")]


def submitted(activity: Mapping[str, Any]) -> tuple[str, str] | None:
    """(offer key, edited text) when the activity is a press of the card's 「照会する」."""
    value = activity.get("value")
    if not isinstance(value, Mapping) or not value.get(OFFER_KEY):
        return None
    return str(value[OFFER_KEY]), str(value.get(TEXT_INPUT) or "")


def inquiry_activity(post: InquiryPost, *, asker_link: str | None) -> dict[str, Any]:
    """The 照会 as a markdown message (every line its own paragraph: Teams joins single newlines)."""
    asked = post.asked_by + (f"　[質問のスレッド]({asker_link})" if asker_link else "")
    lines = [f"**{post.title}**", asked, *post.text.strip().splitlines(), *post.searched.splitlines(),
             f"_{post.how_to_answer(threaded=True, mention=MENTION_HINT)}_"]
    text = "\n\n".join(line.rstrip() for line in lines if line.strip())
    return {"type": "message", "textFormat": "markdown", "text": text}
