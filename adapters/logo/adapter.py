"""The LoGo Chat adapter: questions from talks in, plain-text answers with sources out.

The bot answers every text message of a 1:1 talk and messages that mention it in group
talks, in the same talk (LoGo has no threads), opening with the asker's mention. Each
message is handled once across reconnects and restarts (EventLedger, platform "logo").
Failures become a short Japanese apology in the talk; the error goes to the log only.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from adapters.logo.client import LogoClient, LogoError
from adapters.logo.render import (
    APOLOGY,
    EMPTY_QUESTION,
    PLATFORM,
    PayloadError,
    is_addressed,
    mention_markup,
    parse_message,
    reply_chunks,
    reply_text,
    to_incoming,
)
from bot.models import Answer, ConversationRef, Digest, IncomingMessage
from bot.state.events import EventLedger
from manifest.schema import Manifest

log = logging.getLogger(__name__)


class Engine(Protocol):
    async def answer(self, message: IncomingMessage, *, collections: list[str] | None = None) -> Answer: ...


class LogoAdapter:
    name = PLATFORM

    def __init__(
        self,
        *,
        client: LogoClient,
        manifest: Manifest,
        engine: Engine,
        ledger: EventLedger,
        max_message_length: int = 1024,
        answer_bots: bool = False,
        default_tenant: str | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.client = client
        self.manifest = manifest
        self.engine = engine
        self.ledger = ledger
        self.max_message_length = max_message_length
        self.answer_bots = answer_bots
        self.default_tenant = default_tenant
        self.start_timeout = start_timeout
        self._tasks: set[asyncio.Task[None]] = set()
        self._talk_locks: dict[int, asyncio.Lock] = {}
        client.add_handler(self._on_notification)

    # -- Adapter protocol ---------------------------------------------------------------------------
    async def start(self) -> None:
        await self.client.start(wait=self.start_timeout)

    async def stop(self) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=60)
        await self.client.stop()

    def connected(self) -> bool:
        return self.client.connected()

    async def send(self, ref: ConversationRef, reply: Answer | Digest) -> None:
        await self._post(int(ref.channel), reply_text(reply), mention=None)

    # -- incoming ---------------------------------------------------------------------------------------
    def _on_notification(self, method: str, payload: Any) -> None:
        if method != "notify_create_message":
            return
        task = asyncio.get_running_loop().create_task(self.handle(payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _scope(self, talk_id: int) -> tuple[str, list[str]] | None:
        """(tenant id, collections) for a talk: its channel mapping, else the default tenant."""
        found = self.manifest.find_channel(PLATFORM, str(talk_id))
        if found is not None:
            tenant, channel = found
            return tenant.id, tenant.collections_for(channel)
        for tenant in self.manifest.tenants:
            if tenant.id == self.default_tenant:
                return tenant.id, list(tenant.collections)
        return None

    async def handle(self, payload: Any) -> None:
        """Answer one notify_create_message payload if it is addressed to the bot (once)."""
        try:
            message = parse_message(payload)
        except PayloadError as exc:
            log.warning("LoGo: message ignored: %s", exc)
            return
        me = self.client.state.me
        if message.text is None or message.user_id == me:
            return
        if message.bot_message and not self.answer_bots:
            return
        scope = self._scope(message.talk_id)
        if scope is None:
            log.info("LoGo: talk %s is not mapped to a tenant; message %s ignored",
                     message.talk_id, message.message_id)
            return
        tenant, collections = scope
        incoming = to_incoming(message, tenant=tenant, bot_user_id=me, raw=payload)
        if not is_addressed(incoming, bot_user_id=me, pair_talk=self.client.is_pair_talk(message.talk_id)):
            return
        if not await asyncio.to_thread(self.ledger.claim, PLATFORM, str(message.message_id)):
            log.info("LoGo: message %s already handled", message.message_id)
            return
        name = self.client.user_name(message.user_id) or str(message.user_id)
        mention = mention_markup(message.user_id, name)
        if not incoming.text:
            await self._post(message.talk_id, EMPTY_QUESTION, mention=mention)
            return
        try:
            answer = await self.engine.answer(incoming, collections=collections)
            body = reply_text(answer)
        except Exception:
            log.exception("LoGo: answering message %s in talk %s failed", message.message_id, message.talk_id)
            body = APOLOGY
        await self._post(message.talk_id, body, mention=mention)

    # -- outgoing ---------------------------------------------------------------------------------------
    async def _post(self, talk_id: int, body: str, *, mention: str | None) -> None:
        """Post the chunks of one reply in order, not interleaved with another reply in the talk."""
        lock = self._talk_locks.setdefault(talk_id, asyncio.Lock())
        async with lock:
            for chunk in reply_chunks(body, limit=self.max_message_length, mention=mention):
                try:
                    await self.client.send_text(talk_id, chunk)
                except LogoError as exc:
                    log.error("LoGo: posting to talk %s failed: %s", talk_id, exc)
                    return
