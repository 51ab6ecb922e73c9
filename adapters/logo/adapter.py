"""The LoGo Chat adapter: questions from talks in, plain-text answers with sources out.

The bot answers every text message of a 1:1 talk and messages that mention it in group
talks, in the same talk (LoGo has no threads), opening with the asker's mention. Each
message is handled once across reconnects and restarts (EventLedger, platform "logo").
Failures become a short Japanese apology in the talk; the error goes to the log only. A reply
the server still does not take after the client's retries during an outage (connection lost,
429/503) is kept in the state DB's outbox and posted later (``adapters.logo.outbox``). With
``inflight``, a question whose bot stopped mid-answer is answered again by a replica
(``adapters.resume``), while the client is connected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any, Protocol

from adapters.logo.client import LogoClient, LogoError
from adapters.logo.outbox import is_outage, logo_redelivery, queue_reply
from adapters.logo.render import (
    APOLOGY,
    EMPTY_QUESTION,
    INTERRUPTED,
    PLATFORM,
    PayloadError,
    Question,
    is_addressed,
    mention_markup,
    parse_message,
    reply_chunks,
    reply_text,
    to_incoming,
)
from adapters.redelivery import Redelivery
from adapters.resume import Resumer
from bot.models import Answer, ConversationRef, Digest, IncomingMessage
from bot.state.events import EventLedger
from bot.state.inflight import InFlight, Interrupted
from bot.state.outbox import Outbox
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
        outbox: Outbox | None = None,
        redeliver_interval: float = 30.0,
        inflight: InFlight | None = None,
        resume_interval: float = 60.0,
    ) -> None:
        self.client = client
        self.manifest = manifest
        self.engine = engine
        self.ledger = ledger
        self.max_message_length = max_message_length
        self.answer_bots = answer_bots
        self.default_tenant = default_tenant
        self.start_timeout = start_timeout
        # Replies the server did not take even after the client's retries wait here.
        self.outbox = outbox
        self.redeliver_interval = redeliver_interval
        self._redelivery: Redelivery | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Questions being answered; one its bot died answering is answered again by a replica.
        self.inflight = inflight
        self._resumer = None if inflight is None else Resumer(
            inflight, PLATFORM, answer=self._answer_again, give_up=self._give_up, spawn=self._spawn,
            label="LoGo", describe=_describe, ready=client.connected, interval=resume_interval,
        )
        self._talk_locks: dict[int, asyncio.Lock] = {}
        client.add_handler(self._on_notification)

    # -- Adapter protocol ---------------------------------------------------------------------------
    async def start(self) -> None:
        await self.client.start(wait=self.start_timeout)
        if self.outbox is not None and self._redelivery is None:
            self._redelivery = logo_redelivery(
                self.outbox,
                self._post_chunk,
                connected=self.client.connected,
                interval=self.redeliver_interval,
            )
            self._redelivery.start()
        if self._resumer is not None:
            self._resumer.start()

    async def stop(self) -> None:
        if self._redelivery is not None:
            await self._redelivery.stop()
            self._redelivery = None
        if self._resumer is not None:
            await self._resumer.stop()
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
        self._spawn(self.handle(payload))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
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
        name = self.client.user_name(message.user_id) or str(message.user_id)
        question = Question(message=message, name=name, tenant=tenant, collections=collections)
        if not await self._claim(question):
            log.info("LoGo: message %s already handled", message.message_id)
            return
        # 既読: the bot has taken the question. direct-js marks every message read; the bot only those
        # it answers, as a read mark on group chatter it ignores would say it took that too.
        self.client.mark_read(message.talk_id, message.message_id)
        await self._respond(question, incoming)

    async def _claim(self, question: Question) -> bool:
        """Claim the message; with ``inflight``, also record the question until it is done."""
        key = str(question.message.message_id)
        if self._resumer is None:
            return await asyncio.to_thread(self.ledger.claim, PLATFORM, key)
        return await self._resumer.claim(key, question.to_payload())

    def _answering(self, key: str) -> AbstractAsyncContextManager[None]:
        return nullcontext() if self._resumer is None else self._resumer.answering(key)

    async def _respond(self, question: Question, incoming: IncomingMessage) -> None:
        """Answer a claimed question (or apologise) in its talk, opening with the asker's mention."""
        message = question.message
        mention = mention_markup(message.user_id, question.name)
        key = str(message.message_id)
        async with self._answering(key):
            if not incoming.text:
                await self._post(message.talk_id, EMPTY_QUESTION, mention=mention, key=key)
                return
            try:
                answer = await self.engine.answer(incoming, collections=question.collections)
                body = reply_text(answer)
            except Exception:
                log.exception("LoGo: answering message %s in talk %s failed", key, message.talk_id)
                body = APOLOGY
            await self._post(message.talk_id, body, mention=mention, key=key)

    async def _answer_again(self, entry: Interrupted) -> None:
        question = Question.from_payload(entry.payload)
        incoming = to_incoming(
            question.message, tenant=question.tenant, bot_user_id=self.client.state.me, raw=question.raw()
        )
        await self._respond(question, incoming)

    async def _give_up(self, entry: Interrupted) -> None:
        question = Question.from_payload(entry.payload)
        mention = mention_markup(question.message.user_id, question.name)
        await self._post(question.message.talk_id, INTERRUPTED, mention=mention, key=entry.event_id)

    # -- outgoing ---------------------------------------------------------------------------------------
    async def _post(self, talk_id: int, body: str, *, mention: str | None, key: str | None = None) -> None:
        """Post the chunks of one reply in order, not interleaved with another reply in the talk.

        ``key`` (the answered message id): during an outage the chunks not yet posted are queued.
        """
        lock = self._talk_locks.setdefault(talk_id, asyncio.Lock())
        async with lock:
            chunks = reply_chunks(body, limit=self.max_message_length, mention=mention)
            for i, chunk in enumerate(chunks):
                try:
                    await self.client.send_text(talk_id, chunk)
                except LogoError as exc:
                    if key is not None and self.outbox is not None and is_outage(exc):
                        await queue_reply(self.outbox, talk_id, key, chunks[i:], exc)
                        return
                    log.error("LoGo: posting to talk %s failed: %s", talk_id, exc)
                    return

    async def _post_chunk(self, talk_id: int, chunk: str) -> None:
        """One queued chunk, posted again (not interleaved with a reply being posted in the talk)."""
        async with self._talk_locks.setdefault(talk_id, asyncio.Lock()):
            await self.client.send_text(talk_id, chunk)


def _describe(entry: Interrupted) -> str:
    return f"message {entry.event_id} in talk {entry.payload.get('talk_id')}"
