"""The LoGo Chat adapter: questions from talks in, plain-text answers with sources out.

The bot answers every text message of a 1:1 talk and messages that mention it in group talks, in
the same talk (LoGo has no threads), opening with the asker's mention. What happens to a question
once it is recognised (claimed once across reconnects, restarts and replicas; answered; queued in
the outbox during an outage; answered again by a replica when its bot died; the apology) is the
shared lifecycle's (``bot.flow``), through ``adapters.logo.channel``.
"""

from __future__ import annotations

import logging
from typing import Any

from adapters.logo import PLATFORM
from adapters.logo.channel import LogoChannel
from adapters.logo.client import LogoClient
from adapters.logo.inquiry import LogoInquiries, LogoInquiryPort
from adapters.logo.render import (
    PayloadError,
    is_addressed,
    parse_mentions,
    parse_message,
    reply_text,
    to_incoming,
)
from bot.flow.lifecycle import Lifecycle
from bot.flow.question import NO_TENANT, Question
from bot.models import Answer, ConversationRef, Digest
from manifest.schema import Manifest
from manifest.scope import scope_for

log = logging.getLogger(__name__)


class LogoAdapter:
    name = PLATFORM

    def __init__(
        self,
        *,
        client: LogoClient,
        manifest: Manifest,
        lifecycle: Lifecycle,
        max_message_length: int = 1024,
        answer_bots: bool = False,
        start_timeout: float = 30.0,
    ) -> None:
        self.client = client
        self.manifest = manifest
        self.answer_bots = answer_bots
        self.start_timeout = start_timeout
        self.channel = LogoChannel(client, max_message_length=max_message_length)
        self.flow = lifecycle.flow(self.channel, ready=client.connected)
        self.inquiries: LogoInquiries | None = None  # the 照会 loop, when the runtime has one
        if lifecycle.inquiries is not None:
            port = LogoInquiryPort(self.channel)
            self.inquiries = LogoInquiries(lifecycle.inquiries, port, claim=self._claim)
        client.add_handler(self._on_notification)

    @property
    def max_message_length(self) -> int:
        return self.channel.max_message_length

    # -- Adapter protocol ---------------------------------------------------------------------------
    async def start(self) -> None:
        await self.client.start(wait=self.start_timeout)
        await self.flow.start()  # resume and redelivery rounds wait while the client is disconnected

    async def stop(self) -> None:
        await self.flow.stop()
        await self.client.stop()
        if self.inquiries is not None:
            await self.inquiries.stop()

    def connected(self) -> bool:
        return self.client.connected()

    async def send(self, ref: ConversationRef, reply: Answer | Digest) -> None:
        """Post an answer or a digest to a talk (no mention), not interleaved with a reply there."""
        async with self.flow.conversation(ref.channel, None):
            for chunk in self.channel.chunks(reply_text(reply)):
                await self.client.send_text(int(ref.channel), chunk)

    # -- incoming ---------------------------------------------------------------------------------------
    def _on_notification(self, method: str, payload: Any) -> None:
        if method != "notify_create_message":
            return
        if self.inquiries is not None and self._inquiry(payload):
            return  # 「照会する」, or a responder's 「照会#12 …」: not a question
        question = self.question(payload)
        if question is not None:
            self.flow.receive(question)

    def _inquiry(self, payload: Any) -> bool:
        assert self.inquiries is not None
        try:
            message = parse_message(payload)
        except PayloadError:
            return False  # question() logs it
        me = self.client.state.me
        mentioned = message.text is not None and str(me) in {m.user_id for m in parse_mentions(message.text)}
        addressed = mentioned or self.client.is_pair_talk(message.talk_id)
        name = self.client.user_name(message.user_id) or str(message.user_id)
        return self.inquiries.take(message, addressed=addressed, name=name)

    async def _claim(self, key: str) -> bool:
        return bool(await self.flow.state(self.flow.ledger.claim, PLATFORM, key))

    def question(self, payload: Any) -> Question | None:
        """A notify_create_message payload as a question, or None when it is not addressed to the bot."""
        try:
            message = parse_message(payload)
        except PayloadError as exc:
            log.warning("LoGo: message ignored: %s", exc)
            return None
        me = self.client.state.me
        if message.text is None or message.user_id == me:
            return None
        if message.bot_message and not self.answer_bots:
            return None
        scope = scope_for(self.manifest, PLATFORM, [str(message.talk_id)])
        incoming = to_incoming(
            message, tenant=scope.tenant if scope else NO_TENANT, bot_user_id=me, raw=payload
        )
        if not is_addressed(incoming, bot_user_id=me, pair_talk=self.client.is_pair_talk(message.talk_id)):
            return None
        name = self.client.user_name(message.user_id) or str(message.user_id)
        return Question(key=str(message.message_id), message=incoming, scope=scope, context={"name": name})
