"""Microsoft Teams as the question lifecycle sees it (``bot.ports.Channel``): activities in a turn.

A question that just arrived is answered in a proactive turn opened with the inbound claims
identity (``continue_conversation_with_claims``), so Teams got its HTTP response at once; one
answered again after its bot died, and everything the outbox kept, is posted through the stored
conversation reference (``continue_conversation``), into the same thread. In a personal chat a
live answer is streamed (informative update, cumulative chunks, final message); elsewhere a typing
indicator shows while it is written. A streaming error ends the streaming, not the answer: the
answer then replaces the streamed message (Teams' two-minute limit) or is posted as a plain message
(``TeamsAnswerStream``). A rendered message is ``{"activity": …, "audit_id": …}``:
a posted answer is linked to its audit record, so the feedback buttons reach ``FeedbackStore``.
The connector refusing a post past the retries with 429/5xx, or not answering, is an outage; any
other status is a refusal.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from microsoft_agents.activity import Activity, ActivityTypes, ConversationReference
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.app import TypingIndicator, TypingOptions
from microsoft_agents.hosting.core.authorization import ClaimsIdentity

from adapters.teams import PLATFORM, render
from adapters.teams.inquiry_cards import offer_activities
from adapters.teams.references import ConversationStore
from adapters.teams.retry import TeamsDeliveryError, failure_is_retryable, retryable, send_with_retry
from adapters.teams.streaming import TeamsStream
from bot import wording
from bot.flow.question import Question
from bot.models import Answer
from bot.ports import Failure, Rendered, ReplyWork, Stream

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveTurn:
    """The inbound activity and the identity it was sent with: a question's ``live`` handle."""

    identity: ClaimsIdentity
    activity: Activity


@dataclass(frozen=True)
class StreamSettings:
    stream_personal: bool = True
    stream_interval: float = 1.0  # Teams accepts about one streaming update per second
    typing_interval: float = 3.0


def queued_item(activity: Mapping[str, Any], audit_id: str | None = None) -> dict[str, Any]:
    """A rendered message: the activity, and the audit record it answers (for feedback)."""
    return {"activity": dict(activity), "audit_id": audit_id}


class TeamsChannel:
    platform = PLATFORM
    label = "Teams"

    def __init__(
        self,
        cloud: CloudAdapter,
        *,
        app_id: str,
        conversations: ConversationStore,
        settings: StreamSettings | None = None,
        anonymous: bool = False,
    ) -> None:
        self.cloud = cloud
        self.app_id = app_id
        self.conversations = conversations
        self.settings = settings or StreamSettings()
        self.anonymous = anonymous  # the development mode: proactive turns without credentials

    async def reply_to(self, question: Question, work: ReplyWork) -> None:
        live = question.live if isinstance(question.live, LiveTurn) else None
        streaming = (
            live is not None and self.settings.stream_personal
            and question.context.get("conversation_type") == "personal"
        )

        async def turn(context: TurnContext) -> None:
            await work(TeamsReply(self, question, context, streaming=streaming))

        if live is not None:
            await self.cloud.continue_conversation_with_claims(live.identity, live.activity, turn)
            return
        ref = question.message.ref
        await self.proactive(await self.continuation(ref.channel, ref.thread), turn)

    async def proactive(self, continuation: Activity, turn: Callable[[TurnContext], Awaitable[None]]) -> None:
        """A proactive turn: as the bot's app id, or (development mode) anonymously, without credentials."""
        if self.anonymous:
            await self.cloud.continue_conversation_with_claims(ClaimsIdentity(), continuation, turn)
        else:
            await self.cloud.continue_conversation(self.app_id, continuation, turn)

    async def post(self, channel: str, thread: str | None, message: Rendered) -> None:
        """Post one rendered activity through the stored conversation reference (TeamsDeliveryError)."""
        continuation = await self.continuation(channel, thread)
        failure: list[BaseException] = []

        async def post(context: TurnContext) -> None:
            try:
                await self.send(context, channel, message)
            except Exception as exc:  # surfaced to the caller below, not to the chat
                failure.append(exc)

        await self.proactive(continuation, post)
        if failure:
            raise TeamsDeliveryError(
                f"posting to Teams conversation {channel!r} failed: {_describe(failure[0])}",
                retryable=failure_is_retryable(failure[0]),
            ) from failure[0]

    async def send(self, context: TurnContext, channel: str, message: Rendered) -> None:
        """Send one rendered activity in a turn and link it to its audit record."""
        response = await send_with_retry(context, Activity.model_validate(message["activity"]))
        await self.link(channel, response.id if response else None, message.get("audit_id"))

    async def link(self, channel: str, message_id: str | None, audit_id: str | None) -> None:
        if audit_id and message_id:
            await asyncio.to_thread(self.conversations.link_answer, channel, message_id, audit_id)

    async def continuation(self, channel: str, thread: str | None) -> Activity:
        """A proactive turn's activity for (conversation, thread), from the stored reference."""
        stored = await asyncio.to_thread(self.conversations.get, channel)
        if stored is None:
            raise TeamsDeliveryError(
                f"no Teams conversation reference stored for {channel!r}: the bot must be installed "
                "in that chat or channel (and have received an event from it) before it can post there"
            )
        if not stored.installed:
            raise TeamsDeliveryError(f"the bot was removed from Teams conversation {channel!r}")
        reference = ConversationReference.model_validate(stored.reference)
        conversation_id = channel
        if thread and stored.conversation_type == "channel":
            conversation_id = f"{channel};messageid={thread}"
        continuation = reference.get_continuation_activity()
        continuation.id = None  # a new post (or a post into the thread), not a reply to an event
        continuation.conversation = reference.conversation.model_copy(update={"id": conversation_id})
        return continuation

    def classify(self, error: BaseException) -> Failure:
        return classify(error)

    def explain(self, error: BaseException) -> str:
        return explain(error)

    def describe(self, key: str, channel: str) -> str:
        return f"message {key.rsplit('@', 1)[0]} in {channel}"


class TeamsReply:
    """A question's conversation within one turn."""

    def __init__(
        self, channel: TeamsChannel, question: Question, context: TurnContext, *, streaming: bool
    ) -> None:
        self.channel = channel
        self.question = question
        self.context = context
        self._stream = TeamsAnswerStream(self) if streaming else None

    def render(self, reply: Answer | str) -> list[Rendered]:
        if isinstance(reply, Answer):  # then the card to send its 照会, when it may be sent from the chat
            return [queued_item(render.answer_activity(reply), reply.audit_id),
                    *(queued_item(card) for card in offer_activities(reply))]
        return [queued_item(render.text_activity(reply))]

    @asynccontextmanager
    async def progress(self) -> AsyncIterator[None]:
        await self._typing()
        if self._stream is not None:
            await self._stream.inform(wording.WORKING)
            yield
            return
        interval_ms = int(self.channel.settings.typing_interval * 1000)
        options = TypingOptions(initial_delay_ms=interval_ms, interval_ms=interval_ms)
        async with TypingIndicator(self.context, typing_options=options):  # stops when a message is sent
            yield

    async def _typing(self) -> None:
        """The typing indicator is a courtesy: a throttled one must not cost the answer."""
        try:
            await self.context.send_activity(Activity(type=ActivityTypes.typing))
        except aiohttp.ClientResponseError as exc:
            log.debug("Teams typing indicator refused (HTTP %s)", exc.status)

    def stream(self) -> Stream | None:
        return self._stream

    async def post(self, message: Rendered) -> None:
        await self.channel.send(self.context, self.question.message.ref.channel, message)


class StreamEnd(enum.Enum):
    """How Teams ended a stream before its final message (403 ``ContentStreamNotAllowed``)."""

    REFUSED = "refused"  # streaming not allowed (or any other refusal): post the answer as a message
    TIMED_OUT = "timed out"  # past Teams' two-minute limit: put the answer in place of the stream
    STOPPED = "stopped"  # the user stopped it: post nothing more


def stream_end(error: aiohttp.ClientResponseError) -> StreamEnd:
    """What a refused streaming update means; the connector's error body is the exception message."""
    reason = str(error.message).lower()
    if error.status == 403 and "exceeded streaming time" in reason:
        return StreamEnd.TIMED_OUT
    if error.status == 403 and ("cancelled by user" in reason or "canceled by user" in reason):
        return StreamEnd.STOPPED
    return StreamEnd.REFUSED


class TeamsAnswerStream:
    """Teams streaming (``adapters.teams.streaming``) for one answer; an error ends only the streaming.

    Refused from the start (streaming not allowed for the bot or user), the answer is posted as a
    plain message. Teams ends a stream two minutes after it began, refusing every update and the
    final message from then on: the answer then replaces the streamed message (as the Agents SDK
    for .NET does), or is posted when that fails too. A stream the user stopped gets nothing more.
    An outage (429/5xx past the retries) on the final message is the lifecycle's: it queues it.
    """

    def __init__(self, reply: TeamsReply) -> None:
        self.reply = reply
        self._stream = TeamsStream(reply.context, interval=reply.channel.settings.stream_interval)
        self._ended: StreamEnd | None = None

    async def inform(self, text: str) -> None:
        await self._guard(self._stream.inform(text))

    async def push(self, delta: str) -> None:
        if self._ended is None:
            await self._guard(self._stream.push(delta))

    async def _guard(self, update: Any) -> None:
        try:
            await update
        except aiohttp.ClientResponseError as exc:
            self._end(exc)

    def _end(self, error: aiohttp.ClientResponseError) -> None:
        self._ended = stream_end(error)
        then = {
            StreamEnd.REFUSED: "the answer is posted as a message",
            StreamEnd.TIMED_OUT: "the answer replaces what was streamed",
            StreamEnd.STOPPED: "nothing more is posted",
        }[self._ended]
        log.info("Teams streaming %s (HTTP %s): %s", self._ended.value, error.status, then)

    async def finish(self, message: Rendered) -> bool:
        """End the stream with ``message``; False when nothing usable was streamed (post it instead)."""
        if self._ended is None and self._stream.started and not self._stream.finished:
            try:
                message_id = await self._stream.finish(message["activity"])
            except aiohttp.ClientResponseError as exc:
                if retryable(exc.status):
                    raise  # an outage: the lifecycle keeps the answer for later
                self._end(exc)
            else:
                await self._link(message_id, message)
                return True
        if self._ended is StreamEnd.STOPPED:
            return True
        if self._ended is StreamEnd.TIMED_OUT:
            return await self._replace(message)
        return False

    async def _replace(self, message: Rendered) -> bool:
        """Put ``message`` in place of the streamed one; False when Teams refuses that too."""
        activity = Activity.model_validate({**message["activity"], "id": self._stream.stream_id})
        try:
            await self.reply.context.update_activity(activity)
        except aiohttp.ClientResponseError as exc:
            log.warning("Teams refused to replace the streamed message (HTTP %s): the answer is posted",
                        exc.status)
            return False
        await self._link(self._stream.stream_id, message)
        return True

    async def _link(self, message_id: str | None, message: Rendered) -> None:
        conversation = self.reply.question.message.ref.channel
        await self.reply.channel.link(conversation, message_id, message.get("audit_id"))


def classify(error: BaseException) -> Failure:
    """429/5xx past the retries or no answer at all: an outage; any other status: a refusal."""
    if isinstance(error, TeamsDeliveryError):
        return Failure.OUTAGE if error.retryable else Failure.REFUSED
    if isinstance(error, aiohttp.ClientResponseError):
        return Failure.OUTAGE if retryable(error.status) else Failure.REFUSED
    if isinstance(error, aiohttp.ClientConnectionError | TimeoutError):
        return Failure.OUTAGE
    return Failure.BUG


def explain(error: BaseException) -> str:
    if isinstance(error, aiohttp.ClientResponseError):
        return f"Teams connector answered HTTP {error.status}"
    if isinstance(error, TeamsDeliveryError):
        return str(error)
    return f"Teams could not be reached: {type(error).__name__}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status}"
    return str(exc) or type(exc).__name__
