"""The 照会 loop on Microsoft Teams (``bot.inquiry``): the card's 「照会する」, the posted 照会, its replies.

* The press of an answer card's 「照会する」 (``inquiry_cards.offer_card``) arrives as a message activity
  with a ``value``: the desk sends the (edited) draft, or the presser is told why not in the chat.
* The 照会 is posted proactively to the destination channel (through its stored conversation
  reference: the bot must be installed there) as a new post; its id is the thread replies come in.
* A reply in that thread (mentioning the bot: a channel bot hears nothing else) is handed to the desk;
  so are the ``messageUpdate`` (edit) and ``messageDelete`` activities of an answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from microsoft_agents.activity import Activity, ActivityTypes
from microsoft_agents.hosting.core import AgentApplication, TurnContext, TurnState

from adapters.teams import PLATFORM, render
from adapters.teams.channel import TeamsChannel, queued_item
from adapters.teams.inquiry_cards import inquiry_activity, submitted
from adapters.teams.retry import TeamsDeliveryError, failure_is_retryable, send_with_retry
from bot.inquiry.desk import InquiryDesk, ResponderMessage
from bot.inquiry.text import InquiryPost
from bot.models import Answer
from bot.ports import Published, Rendered

log = logging.getLogger(__name__)

MESSAGE_LINK = "https://teams.microsoft.com/l/message/{conversation}/{message}"


def message_link(conversation: str, thread: str | None, message: str | None) -> str | None:
    """A deep link to a channel message (or a thread's root) that opens it in Teams."""
    target = message or thread
    if target is None:
        return None
    link = MESSAGE_LINK.format(conversation=quote(conversation, safe="@:"), message=target)
    return f"{link}?{urlencode({'parentMessageId': thread})}" if thread else link


class TeamsInquiryPort:
    """``bot.ports.InquiryPort`` on Teams."""

    threaded = True

    def __init__(self, channel: TeamsChannel, *, ready: Callable[[], bool]) -> None:
        self.channel = channel
        self._ready = ready

    def ready(self) -> bool:
        return self._ready()

    def render(self, reply: Answer | str, *, mention: tuple[str, str] | None = None) -> list[Rendered]:
        if isinstance(reply, Answer):
            return [queued_item(render.answer_activity(reply, feedback=False))]
        return [queued_item(render.text_activity(reply))]

    def render_inquiry(self, post: InquiryPost) -> list[Rendered]:
        return [queued_item(inquiry_activity(post, asker_link=post.asker_link))]

    async def publish(self, channel: str, messages: Sequence[Rendered], *, marker: str) -> Published:
        """A new post in the channel (its id starts the thread); the rest of ``messages`` go in it."""
        continuation = await self.channel.continuation(channel, None)
        ids: list[str] = []
        failure: list[BaseException] = []

        async def post(context: TurnContext) -> None:
            try:
                response = await send_with_retry(context, Activity.model_validate(messages[0]["activity"]))
                if response is not None and response.id:
                    ids.append(str(response.id))
            except Exception as exc:  # surfaced below, not to the chat
                failure.append(exc)

        await self.channel.cloud.continue_conversation(self.channel.app_id, continuation, post)
        if failure:
            raise TeamsDeliveryError(
                f"posting the 照会 to Teams conversation {channel!r} failed: {failure[0]}",
                retryable=failure_is_retryable(failure[0]),
            ) from failure[0]
        if not ids:
            raise TeamsDeliveryError(f"Teams did not say which post the 照会 in {channel!r} became")
        for rest in messages[1:]:
            await self.channel.post(channel, ids[0], rest)
        return Published(ids[0], self.link(channel, ids[0], ids[0]))

    async def find_published(self, channel: str, marker: str) -> Published | None:
        return None  # a bot cannot read a channel's history (that takes Graph)

    def link(self, channel: str, thread: str | None, message: str | None) -> str | None:
        return message_link(channel, thread, message)


Reply = Callable[[str], Awaitable[object]]


class TeamsInquiries:
    """Routes the card's 「照会する」 and the destinations' messages, edits and deletions to the desk."""

    def __init__(self, desk: InquiryDesk, port: TeamsInquiryPort) -> None:
        self.desk = desk
        self.port = port
        desk.attach(port)

    def register(self, app: AgentApplication[TurnState]) -> None:
        app.activity(ActivityTypes.message_update)(self._on_update)
        app.activity(ActivityTypes.message_delete)(self._on_delete)

    async def message(self, activity: Mapping[str, Any], *, reply: Reply) -> bool:
        """A message activity: True when it was the loop's (a 「照会する」, or a reply to a 照会)."""
        pressed = submitted(activity)
        if pressed is not None:
            key, text = pressed
            notice = await self.desk.confirm(key, user=render.sender_id(activity), text=text)
            if notice is not None:
                await reply(notice)
            return True
        found = self._in_thread(activity)
        if found is None:
            return False
        conversation, root = found
        sender = activity.get("from") or {}
        return await self.desk.reply(ResponderMessage(
            platform=PLATFORM, channel=conversation, thread=root, message=str(activity.get("id") or ""),
            user=render.sender_id(activity), user_name=str(sender.get("name") or render.sender_id(activity)),
            text=render.strip_bot_mention(activity), bot=sender.get("role") == "bot",
        ))

    def _in_thread(self, activity: Mapping[str, Any]) -> tuple[str, str] | None:
        """(conversation, thread root) of a reply in a destination channel's thread."""
        conversation = render.base_conversation_id(str((activity.get("conversation") or {}).get("id") or ""))
        if not self.desk.is_destination(PLATFORM, conversation) or not activity.get("id"):
            return None
        try:
            root = render.thread_root(activity)
        except render.TeamsPayloadError:
            return None
        return None if root is None or root == activity.get("id") else (conversation, root)

    async def _on_update(self, context: TurnContext, _state: TurnState) -> None:
        activity = _as_dict(context.activity)
        found = self._in_thread(activity)
        event = (activity.get("channelData") or {}).get("eventType")
        if found is None or event not in (None, "editMessage"):
            return
        await self.desk.edited(PLATFORM, found[0], str(activity["id"]), render.strip_bot_mention(activity))

    async def _on_delete(self, context: TurnContext, _state: TurnState) -> None:
        activity = _as_dict(context.activity)
        found = self._in_thread(activity)
        if found is not None:
            await self.desk.deleted(PLATFORM, found[0], str(activity["id"]))


def _as_dict(activity: Activity) -> dict[str, Any]:
    return activity.model_dump(mode="json", by_alias=True, exclude_none=True)
