"""The 照会 loop on Slack (``bot.inquiry``): the 「照会する」 modal, the posted 照会, replies in its thread.

* An answer's 「照会する」 button (``render.inquiry_actions``) opens a modal with the draft to check and
  edit (``views.open``); submitting it asks the desk to send it (an error in the modal otherwise:
  someone else's question, personal data, already sent).
* The 照会 is posted to the destination channel as one message with message metadata (event type
  ``kairan_inquiry``), so an interrupted post is found again in ``conversations.history``.
* A reply in its thread (the ``message.channels`` subscription, or a mention) is handed to the desk;
  so are an edit (``message_changed``) and a deletion (``message_deleted``) of an answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError

from adapters.slack import PLATFORM
from adapters.slack.channel import SlackChannel, message_dict
from adapters.slack.payloads import clean_text
from adapters.slack.render import (
    INQUIRY_OPEN,
    SlackMessage,
    answer_messages,
    context,
    escape,
    link,
    notice_message,
    section,
    split_text,
)
from bot import wording
from bot.inquiry.desk import InquiryDesk, ResponderMessage
from bot.inquiry.store import Offer
from bot.inquiry.text import InquiryPost
from bot.models import Answer
from bot.ports import Published, Rendered

log = logging.getLogger(__name__)

INQUIRY_SEND = "kairan_inquiry_send"  # the modal's callback id
INQUIRY_EVENT_TYPE = "kairan_inquiry"  # message metadata on a posted 照会
DRAFT_BLOCK = "kairan_inquiry_draft"
DRAFT_INPUT = "text"
INPUT_LIMIT = 3000  # Slack's plain_text_input max_length
TITLE_LIMIT = 24  # a modal's title
HISTORY_PAGES = 5  # an interrupted post is looked for among the destination's latest 1,000 messages
CAPTURED = frozenset({None, "file_share", "thread_broadcast"})  # message subtypes a person writes


# -- pure renderers ------------------------------------------------------------------------------


def inquiry_messages(post: InquiryPost) -> list[SlackMessage]:
    """The 照会 as one Block Kit message (a long one is cut to the block limit with a note)."""
    fence = "```"
    room = 3000 - 2 * len(fence) - 2
    asked = escape(post.asked_by)
    if post.asker_link:
        asked += f"　{link(post.asker_link, '質問のスレッド')}"
    blocks = [section(f"*{escape(post.title)}*"), section(asked)]
    blocks += [section(f"{fence}\n{piece}\n{fence}") for piece in split_text(escape(post.text.strip()), room)]
    blocks += [section(piece) for piece in split_text(escape(post.searched))]
    blocks.append(context(escape(post.how_to_answer(threaded=True))))
    return [SlackMessage(text=post.title, blocks=blocks[:50])]


def draft_view(offer: Offer, *, destination: str, channel: str | None, thread: str | None) -> dict[str, Any]:
    """The modal to check and edit the draft before it is sent."""
    metadata = json.dumps({"offer": offer.key, "channel": channel, "thread": thread})
    return {
        "type": "modal",
        "callback_id": INQUIRY_SEND,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": wording.INQUIRY_EDIT_TITLE[:TITLE_LIMIT]},
        "submit": {"type": "plain_text", "text": wording.INQUIRY_SEND},
        "close": {"type": "plain_text", "text": "やめる"},
        "blocks": [
            section(f"*送り先*: {escape(destination)}\n{escape(wording.INQUIRY_EDIT_HINT)}"),
            {
                "type": "input",
                "block_id": DRAFT_BLOCK,
                "label": {"type": "plain_text", "text": "照会文"},
                "element": {
                    "type": "plain_text_input", "action_id": DRAFT_INPUT, "multiline": True,
                    "initial_value": offer.draft[:INPUT_LIMIT], "max_length": INPUT_LIMIT,
                },
            },
        ],
    }


def submitted(view: Mapping[str, Any]) -> tuple[str, str | None, str | None, str]:
    """(offer key, channel, thread, edited text) from a submitted draft modal; ValueError when malformed."""
    try:
        metadata = json.loads(view.get("private_metadata") or "")
        text = view["state"]["values"][DRAFT_BLOCK][DRAFT_INPUT].get("value") or ""
        return str(metadata["offer"]), metadata.get("channel"), metadata.get("thread"), str(text)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the 照会 modal came back without {exc}") from None


def permalink(base: str | None, channel: str, thread: str | None, message: str | None) -> str | None:
    """``https://<workspace>.slack.com/archives/C…/p<ts>`` (in its thread when it replies in one)."""
    if not base:
        return None
    root = base.rstrip("/") + f"/archives/{channel}"
    target = message or thread
    if target is None:
        return root
    url = f"{root}/p{target.replace('.', '')}"
    if thread and message and thread != message:
        url += f"?thread_ts={thread}&cid={channel}"
    return url


# -- the port -----------------------------------------------------------------------------------


class SlackInquiryPort:
    """``bot.ports.InquiryPort`` on Slack."""

    threaded = True

    def __init__(self, channel: SlackChannel, *, ready: Callable[[], bool],
                 workspace_url: Callable[[], str | None]) -> None:
        self.channel = channel
        self._ready = ready
        self._workspace_url = workspace_url

    def ready(self) -> bool:
        return self._ready()

    def render(self, reply: Answer | str, *, mention: tuple[str, str] | None = None) -> list[Rendered]:
        messages = answer_messages(reply) if isinstance(reply, Answer) else [notice_message(reply)]
        return [message_dict(m) for m in messages]

    def render_inquiry(self, post: InquiryPost) -> list[Rendered]:
        return [message_dict(m) for m in inquiry_messages(post)]

    async def publish(self, channel: str, messages: Sequence[Rendered], *, marker: str) -> Published:
        client = self.channel.client
        metadata = {"event_type": INQUIRY_EVENT_TYPE, "event_payload": {"marker": marker}}
        first = messages[0]
        response = await client.chat_postMessage(
            channel=channel, text=first["text"], blocks=first["blocks"], metadata=metadata,
            unfurl_links=False, unfurl_media=False,
        )
        ts = str(response["ts"])
        for rest in messages[1:]:
            await self.channel.post(channel, ts, rest)
        return Published(ts, self.link(channel, None, ts))

    async def find_published(self, channel: str, marker: str) -> Published | None:
        cursor = ""
        for _ in range(HISTORY_PAGES):
            args: dict[str, Any] = {"channel": channel, "include_all_metadata": True, "limit": 200}
            if cursor:
                args["cursor"] = cursor
            response = await self.channel.client.conversations_history(**args)
            for message in response.get("messages") or []:
                meta = message.get("metadata") or {}
                if meta.get("event_type") == INQUIRY_EVENT_TYPE and (meta.get("event_payload") or {}).get(
                    "marker"
                ) == marker:
                    ts = str(message["ts"])
                    return Published(ts, self.link(channel, None, ts))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                return None
        return None

    def link(self, channel: str, thread: str | None, message: str | None) -> str | None:
        return permalink(self._workspace_url(), channel, thread, message)


# -- the adapter's side -----------------------------------------------------------------------------


class SlackInquiries:
    """Routes the 「照会する」 clicks, the modal and the destinations' messages to the desk."""

    def __init__(self, desk: InquiryDesk, port: SlackInquiryPort) -> None:
        self.desk = desk
        self.port = port
        desk.attach(port)

    def register(self, app: AsyncApp) -> None:
        app.action(INQUIRY_OPEN)(self._on_open)
        app.view(INQUIRY_SEND)(self._on_send)

    async def _on_open(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        key, user = str(action.get("value") or ""), str((body.get("user") or {}).get("id") or "")
        channel = (body.get("channel") or {}).get("id")
        message = body.get("message") or {}
        thread = message.get("thread_ts") or message.get("ts")
        offer = await self.desk.draft(key) if key else None
        problem = (wording.INQUIRY_EXPIRED if offer is None
                   else wording.INQUIRY_NOT_ASKER if offer.user != user else None)
        if problem is not None or offer is None:
            await self._ephemeral(channel, user, thread, problem or wording.INQUIRY_EXPIRED)
            return
        config = self.desk.config(offer.tenant)
        destination = (config.destination.name if config else "") or "照会先"
        try:
            await self.port.channel.client.views_open(
                trigger_id=body.get("trigger_id"),
                view=draft_view(offer, destination=destination, channel=channel, thread=thread),
            )
        except SlackApiError as exc:
            log.warning("the 照会 modal could not be opened: %s", exc.response.get("error"))

    async def _on_send(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            key, _, _, text = submitted(view)
        except ValueError as exc:
            log.warning("Slack: %s", exc)
            await ack()
            return
        user = str((body.get("user") or {}).get("id") or "")
        notice = await self.desk.confirm(key, user=user, text=text)
        if notice is None:
            await ack()
        else:  # shown under the draft in the modal, which stays open
            await ack(response_action="errors", errors={DRAFT_BLOCK: notice})

    async def message(self, event: Mapping[str, Any], *, bot_user_id: str | None) -> bool:
        """A message event (or a mention) in a destination channel: True when it was the loop's."""
        channel = str(event.get("channel") or "")
        if not self.desk.is_destination(PLATFORM, channel):
            return False
        subtype = event.get("subtype")
        if subtype == "message_changed":
            changed = event.get("message") or {}
            if changed.get("bot_id") or not changed.get("ts"):
                return True
            text, _ = clean_text(str(changed.get("text") or ""), bot_user_id)
            await self.desk.edited(PLATFORM, channel, str(changed["ts"]), text)
            return True
        if subtype == "message_deleted":
            deleted = event.get("deleted_ts") or (event.get("previous_message") or {}).get("ts")
            if deleted:
                await self.desk.deleted(PLATFORM, channel, str(deleted))
            return True
        thread, ts = event.get("thread_ts"), event.get("ts")
        if subtype not in CAPTURED or not thread or not ts or thread == ts:
            return False
        user = str(event.get("user") or "")
        text, _ = clean_text(str(event.get("text") or ""), bot_user_id)
        profile = event.get("user_profile") or {}
        reply = ResponderMessage(
            platform=PLATFORM, channel=channel, thread=str(thread), message=str(ts), user=user,
            user_name=str(profile.get("display_name") or profile.get("real_name") or user), text=text,
            bot=bool(event.get("bot_id")) or not user or user == bot_user_id,
        )
        return await self.desk.reply(reply)

    async def _ephemeral(self, channel: str | None, user: str, thread: str | None, text: str) -> None:
        if not channel or not user:
            return
        try:
            await self.port.channel.client.chat_postEphemeral(channel=channel, user=user, text=text,
                                                              thread_ts=thread)
        except SlackApiError as exc:
            log.warning("the 照会 notice could not be shown: %s", exc.response.get("error"))
