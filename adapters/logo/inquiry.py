"""The 照会 loop on LoGo Chat (``bot.inquiry``): no buttons and no threads, so the words do it.

* The asker sends an answer's 照会 by writing 「照会する」 to the bot (a mention in a group talk; anything
  in a 1:1 talk), the edited 照会 on the lines after it if they changed it: the desk takes the asker's
  newest offer in that talk.
* The 照会 is posted to the destination talk as plain text opening with 【照会#12】; a responder answers
  with a message that opens with 「照会#12」 (「照会#12 取り下げ」 withdraws the answer, a new 「照会#12 …」
  corrects it). After a crash, the posted 照会 is looked for among the talk's latest messages.
* Every such message is claimed once in the event ledger (a reconnection's backfill redelivers them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from adapters.logo import PLATFORM
from adapters.logo.channel import LogoChannel
from adapters.logo.client import LogoClient, RpcError, normalize, text_of
from adapters.logo.render import LogoMessage, mention_markup, parse_mentions, reply_text, strip_mentions
from bot.inquiry.desk import InquiryDesk, ResponderMessage
from bot.inquiry.text import InquiryPost, confirmation, named_inquiry
from bot.models import Answer
from bot.ports import Published, Rendered

log = logging.getLogger(__name__)

SEARCHED_MESSAGES = 100  # an interrupted 照会 is looked for among the destination's latest messages
ORDER_DESC = 0  # get_messages' order code for newest first (1 is ascending)

Claim = Callable[[str], Awaitable[bool]]  # claims a message key once (the event ledger)


class LogoInquiryPort:
    """``bot.ports.InquiryPort`` on LoGo: plain text, no threads, no links."""

    threaded = False

    def __init__(self, channel: LogoChannel) -> None:
        self.channel = channel

    @property
    def client(self) -> LogoClient:
        return self.channel.client

    def ready(self) -> bool:
        return self.client.connected()

    def render(self, reply: Answer | str, *, mention: tuple[str, str] | None = None) -> list[Rendered]:
        body = reply if isinstance(reply, str) else reply_text(reply)
        markup = None if mention is None else mention_markup(mention[0], mention[1] or mention[0])
        return list(self.channel.chunks(body, mention=markup))

    def render_inquiry(self, post: InquiryPost) -> list[Rendered]:
        return list(self.channel.chunks(post.plain(threaded=False)))

    async def publish(self, channel: str, messages: Sequence[Rendered], *, marker: str) -> Published:
        first: str | None = None
        for message in messages:
            result = normalize(await self.client.send_text(int(channel), str(message)))
            if first is None:
                found = result.get("message_id") if isinstance(result, dict) else None
                first = str(found) if found is not None else ""
        return Published(first or "", None)

    async def find_published(self, channel: str, marker: str) -> Published | None:
        """The bot's message in ``channel`` that opens with the 照会's title (【照会#12】)."""
        title = f"【照会#{marker.rsplit('-', 1)[-1]}】"
        try:
            messages = await self.client.call(
                "get_messages", [int(channel), SEARCHED_MESSAGES, None, None, ORDER_DESC]
            )
        except RpcError as exc:
            log.info("LoGo: cannot look for an interrupted 照会 (%s); it is posted again", exc)
            return None
        for payload in normalize(messages) or []:
            if not isinstance(payload, dict) or payload.get("user_id") != self.client.state.me:
                continue
            if (text_of(payload.get("content")) or "").startswith(title):
                return Published(str(payload.get("message_id")), None)
        return None

    def link(self, channel: str, thread: str | None, message: str | None) -> str | None:
        return None  # LoGo messages have no address a browser opens


class LogoInquiries:
    """Takes the asker's 「照会する」 and the responders' 「照会#12 …」 out of the question stream."""

    def __init__(self, desk: InquiryDesk, port: LogoInquiryPort, *, claim: Claim) -> None:
        self.desk = desk
        self.port = port
        self.claim = claim
        self._tasks: set[asyncio.Task[Any]] = set()
        desk.attach(port)

    def take(self, message: LogoMessage, *, addressed: bool, name: str) -> bool:
        """Whether the message is the loop's (handled in a task of its own); called on the client's
        notification path, so it decides without waiting."""
        me = self.port.client.state.me
        if message.text is None or message.user_id == me or message.bot_message:
            return False
        text = strip_mentions(message.text, parse_mentions(message.text), drop={str(me)})
        talk = str(message.talk_id)
        if self.desk.is_destination(PLATFORM, talk) and named_inquiry(text) is not None:
            reply = ResponderMessage(platform=PLATFORM, channel=talk, thread=None,
                                     message=str(message.message_id), user=str(message.user_id),
                                     user_name=name, text=text)
            self._spawn(self._once(f"inquiry-reply:{message.message_id}", self._reply(reply)))
            return True
        confirmed, edited = confirmation(text)
        if addressed and confirmed:
            work = self._confirm(talk, str(message.user_id), name, edited)
            self._spawn(self._once(f"inquiry-send:{message.message_id}", work))
            return True
        return False

    async def _reply(self, reply: ResponderMessage) -> None:
        if not await self.desk.reply(reply):
            log.info("LoGo: message %s names no 照会 of talk %s", reply.message, reply.channel)

    async def _confirm(self, talk: str, user: str, name: str, edited: str | None) -> None:
        notice = await self.desk.confirm_latest(PLATFORM, talk, user, edited)
        if notice is None:
            return
        for chunk in self.port.render(notice, mention=(user, name)):
            await self.port.client.send_text(int(talk), str(chunk))

    async def _once(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            if await self.claim(key):
                await work
                return
        except Exception:
            log.exception("LoGo: handling %s failed", key)
        work.close()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every message taken is handled (tests)."""
        while pending := {t for t in self._tasks if not t.done()}:
            await asyncio.gather(*pending, return_exceptions=True)

    async def stop(self) -> None:
        """After the client stopped: what is left can no longer post (a 照会 itself is the desk's)."""
        pending = [t for t in self._tasks if not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
