"""The Microsoft Teams adapter on the Microsoft 365 Agents SDK (hosting-core / hosting-aiohttp).

``POST /api/messages`` sits behind the SDK's ``jwt_authorization_middleware`` (Bot Framework /
Entra tokens, validated against the SDK's ``AgentAuthConfiguration``); the SDK's ``CloudAdapter``
runs an ``AgentApplication`` whose routes only do quick work (store the conversation reference,
resolve the tenant, parse the question) and acknowledge. The answer is produced afterwards as a
proactive turn on the same conversation (``continue_conversation_with_claims`` with the inbound
identity), so Teams gets its HTTP response within its deadline however long the LLM takes.

Replies go to the thread the question came from; personal chats are streamed. Failures post a
short Japanese apology (the SDK's default ``on_turn_error``, which posts the exception text, is
replaced) and log the traceback. An answer (or apology) the connector still refuses after the
retries with 429/5xx is kept in the state DB's outbox and posted proactively later
(``adapters.teams.outbox``). With ``inflight``, a question whose bot stopped mid-answer is answered
again by a replica (``adapters.resume``), proactively through the stored conversation reference.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from microsoft_agents.activity import Activity, ActivityTypes, ConversationReference, InvokeResponse
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_middleware
from microsoft_agents.hosting.core import (
    AgentApplication,
    AgentAuthConfiguration,
    MemoryStorage,
    TurnContext,
    TurnState,
)
from microsoft_agents.hosting.core.app import TypingIndicator, TypingOptions
from microsoft_agents.hosting.core.authorization import ClaimsIdentity, Connections

from adapters.redelivery import Redelivery
from adapters.resume import Resumer
from adapters.teams import render
from adapters.teams.outbox import queue_answer, queued_item, teams_redelivery
from adapters.teams.references import ConversationStore
from adapters.teams.retry import (
    TeamsDeliveryError,
    failure_is_retryable,
    quiet_sdk_connector_errors,
    retryable,
    send_with_retry,
)
from adapters.teams.routing import resolve_scope
from adapters.teams.streaming import TeamsStream
from bot.models import Answer, ConversationRef, Digest, IncomingMessage
from bot.state.events import EventLedger
from bot.state.feedback import FeedbackStore, UnknownAuditRecord
from bot.state.inflight import InFlight, Interrupted
from bot.state.outbox import Outbox
from manifest.schema import Manifest
from manifest.scope import Scope

log = logging.getLogger(__name__)

__all__ = ["AnswerSource", "TeamsAdapter", "TeamsDeliveryError", "TeamsSettings"]

MESSAGES_PATH = "/api/messages"


class AnswerSource(Protocol):
    """What the adapter needs from the answer engine (``bot.engine.AnswerEngine``)."""

    def stream(
        self, message: IncomingMessage, *, collections: Sequence[str] | None = None
    ) -> AsyncIterator[str | Answer]: ...


@dataclass(frozen=True)
class TeamsSettings:
    app_id: str
    host: str = "0.0.0.0"
    port: int = 3978  # the Bot Framework convention
    aad_tenant_id: str | None = None  # single-tenant Entra app: refuse other tenants
    stream_personal: bool = True
    stream_interval: float = 1.0  # Teams accepts about one streaming update per second
    typing_interval: float = 3.0


class TeamsAdapter:
    name = "teams"

    def __init__(
        self,
        *,
        settings: TeamsSettings,
        auth: AgentAuthConfiguration,
        connections: Connections,
        engine: AnswerSource,
        manifest: Manifest,
        conversations: ConversationStore,
        feedback: FeedbackStore,
        hash_user: Callable[[str], str],
        outbox: Outbox | None = None,
        redeliver_interval: float = 30.0,
        ledger: EventLedger | None = None,
        inflight: InFlight | None = None,
        resume_interval: float = 60.0,
    ) -> None:
        self.settings = settings
        self.auth = auth
        self.engine = engine
        self.manifest = manifest
        self.conversations = conversations
        self.feedback = feedback
        self.hash_user = hash_user
        # Answers the connector did not take even after the retries wait here and are posted later.
        self.outbox = outbox
        self.redeliver_interval = redeliver_interval
        self._redelivery: Redelivery | None = None
        # Message activities already taken, across restarts and replicas: a redelivery is not answered twice.
        self.ledger = ledger
        # Questions being answered; one its bot died answering is answered again by a replica.
        self.inflight = inflight
        self._resumer = None if inflight is None else Resumer(
            inflight, render.PLATFORM, answer=self._answer_again, give_up=self._give_up, spawn=self._spawn,
            label="Teams", describe=_describe_interrupted, interval=resume_interval,
        )
        quiet_sdk_connector_errors()
        self.cloud = CloudAdapter(connection_manager=connections)
        self.cloud.on_turn_error = self._on_turn_error
        self.app: AgentApplication[TurnState] = AgentApplication[TurnState](
            storage=MemoryStorage(),
            connection_manager=connections,
            start_typing_timer=False,  # the answer comes later, in its own turn
            remove_recipient_mention=False,  # render.incoming_message removes it
        )
        self._register_routes()
        self.web_app = self._build_web_app()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- Adapter protocol ---------------------------------------------------------------
    async def start(self) -> None:
        if self._runner is not None:
            return
        self._runner = web.AppRunner(self.web_app)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await self._site.start()
        if self.outbox is not None:
            self._redelivery = teams_redelivery(
                self.outbox, self._post_proactively, interval=self.redeliver_interval
            )
            self._redelivery.start()
        if self._resumer is not None:
            self._resumer.start()
        log.info("Teams endpoint listening on %s:%s%s", self.settings.host, self.port, MESSAGES_PATH)

    async def stop(self) -> None:
        if self._redelivery is not None:
            await self._redelivery.stop()
            self._redelivery = None
        if self._resumer is not None:
            await self._resumer.stop()
        await self.drain()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = self._site = None

    def connected(self) -> bool:
        return self._site is not None

    async def send(self, ref: ConversationRef, reply: Answer | Digest) -> None:
        """Post an answer or a digest proactively to a conversation the bot was seen in."""
        if isinstance(reply, Answer):
            rendered, audit_id = render.answer_activity(reply), reply.audit_id
        else:
            rendered, audit_id = render.digest_activity(reply), None
        await self._post_proactively(ref.channel, ref.thread, rendered, audit_id)

    async def _post_proactively(
        self, channel: str, thread: str | None, rendered: dict[str, Any], audit_id: str | None
    ) -> None:
        """Post one rendered activity through the stored conversation reference (TeamsDeliveryError)."""
        continuation = await self._continuation(channel, thread)
        failure: list[BaseException] = []

        async def post(context: TurnContext) -> None:
            try:
                response = await send_with_retry(context, Activity.model_validate(rendered))
                if audit_id and response and response.id:
                    await asyncio.to_thread(self.conversations.link_answer, channel, response.id, audit_id)
            except Exception as exc:  # surfaced to the caller below, not to the chat
                failure.append(exc)

        await self.cloud.continue_conversation(self.settings.app_id, continuation, post)
        if failure:
            raise TeamsDeliveryError(
                f"posting to Teams conversation {channel!r} failed: {_describe(failure[0])}",
                retryable=failure_is_retryable(failure[0]),
            ) from (failure[0])

    async def _continuation(self, channel: str, thread: str | None) -> Activity:
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

    # -- introspection for serve / tests ---------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (useful with ``port=0``)."""
        if self._runner is not None and self._runner.addresses:
            return int(self._runner.addresses[0][1])
        return self.settings.port

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait for every answer being worked on."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- HTTP --------------------------------------------------------------------------
    def _build_web_app(self) -> web.Application:
        # The SDK's middleware also stores request["claims_identity"] under a str key, which
        # aiohttp >= 3.12 warns about on every request; silence exactly that warning from there.
        warnings.filterwarnings(
            "ignore", category=web.NotAppKeyWarning, module=r"microsoft_agents\.hosting\.aiohttp\."
        )
        app = web.Application(middlewares=[jwt_authorization_middleware])
        # The SDK's JWT middleware reads request.app.get("agent_configuration"): a plain str key,
        # which aiohttp warns about (it prefers web.AppKey, which the SDK's lookup would not find).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", web.NotAppKeyWarning)
            app["agent_configuration"] = self.auth
        app.router.add_post(MESSAGES_PATH, self._handle_messages)
        return app

    async def _handle_messages(self, request: web.Request) -> web.StreamResponse:
        response = await self.cloud.process(request, self.app)
        return response if response is not None else web.Response(status=202)

    # -- routes ------------------------------------------------------------------------
    def _register_routes(self) -> None:
        self.app.message()(self._on_message)
        self.app.activity(ActivityTypes.conversation_update)(self._on_conversation_update)
        self.app.activity(ActivityTypes.installation_update)(self._on_installation_update)
        self.app.invoke("message/submitAction")(self._on_submit_action)

    async def _on_message(self, context: TurnContext, _state: TurnState) -> None:
        activity = _as_dict(context.activity)
        await self._remember(activity)
        scope = resolve_scope(self.manifest, activity, allowed_aad_tenant=self.settings.aad_tenant_id)
        if scope is None:
            log.warning(
                "Teams conversation %s is not configured for any tenant",
                render.base_conversation_id(activity["conversation"]["id"]),
            )
            await send_with_retry(
                context, Activity.model_validate(render.text_activity(render.NOT_CONFIGURED_TEXT))
            )
            return
        message = render.incoming_message(activity, tenant=scope.tenant)
        if not await self._first_delivery(message, activity, scope):
            return
        if not message.text:
            async with self._answering(render.message_key(message.ref)):
                await send_with_retry(
                    context, Activity.model_validate(render.text_activity(render.EMPTY_QUESTION_TEXT))
                )
            return
        identity = context.identity or ClaimsIdentity()
        inbound = context.activity.model_copy(deep=True)
        self._spawn(self._answer_later(identity, inbound, message, scope))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _first_delivery(self, message: IncomingMessage, activity: dict[str, Any], scope: Scope) -> bool:
        """Claim the message activity; False when it was delivered before (to this or another replica).

        The channel sends an activity again when the bot's answer to it (202) did not get through, and
        behind a load balancer the second delivery can reach another replica. With ``inflight`` the
        question is also recorded (the activity and its scope) until it is done.
        """
        key = render.message_key(message.ref)
        if key is None:
            return True
        if self._resumer is not None:
            first = await self._resumer.claim(key, _question_payload(activity, scope))
        elif self.ledger is not None:
            first = await asyncio.to_thread(self.ledger.claim, render.PLATFORM, key)
        else:
            return True
        if not first:
            log.info("Teams message %s delivered again: already handled, skipped", message.ref.message)
        return first

    def _answering(self, key: str | None) -> AbstractAsyncContextManager[None]:
        """Keeps the question in flight while it is answered and drops it after (not when cancelled)."""
        if self._resumer is None or key is None:
            return nullcontext()
        return self._resumer.answering(key)

    async def _on_conversation_update(self, context: TurnContext, _state: TurnState) -> None:
        activity = _as_dict(context.activity)
        bot_id = (activity.get("recipient") or {}).get("id")
        removed = {m.get("id") for m in activity.get("membersRemoved") or []}
        if bot_id and bot_id in removed:
            await asyncio.to_thread(self.conversations.mark_uninstalled, _conversation_key(activity))
            return
        await self._remember(activity)

    async def _on_installation_update(self, context: TurnContext, _state: TurnState) -> None:
        activity = _as_dict(context.activity)
        action = str(activity.get("action") or "")
        if action.startswith("remove"):
            await asyncio.to_thread(self.conversations.mark_uninstalled, _conversation_key(activity))
        else:
            await self._remember(activity)

    async def _on_submit_action(self, context: TurnContext, _state: TurnState) -> None:
        activity = _as_dict(context.activity)
        vote = render.feedback_vote(activity)
        status = 200
        if vote is None:
            status = 400
        else:
            key = _conversation_key(activity)
            audit_id = await asyncio.to_thread(self.conversations.audit_id_for, key, vote.message_id)
            if audit_id is None:
                log.warning("feedback on Teams message %s, which kairan did not record", vote.message_id)
                status = 404
            else:
                try:
                    await asyncio.to_thread(
                        self.feedback.record, audit_id, self.hash_user(vote.user), vote.value, vote.comment
                    )
                except UnknownAuditRecord:
                    log.warning(
                        "feedback on Teams message %s: audit record %s is gone", vote.message_id, audit_id
                    )
                    status = 404
        invoke = Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=status, body={}))
        await context.send_activity(invoke)

    # -- answering ---------------------------------------------------------------------
    async def _answer_later(
        self, identity: ClaimsIdentity, activity: Activity, message: IncomingMessage, scope: Scope
    ) -> None:
        async def turn(context: TurnContext) -> None:
            await self._answer(context, message, scope)

        async with self._answering(render.message_key(message.ref)):
            try:
                await self.cloud.continue_conversation_with_claims(identity, activity, turn)
            except Exception:
                log.exception("Teams answer turn failed for conversation %s", message.ref.channel)

    async def _answer_again(self, entry: Interrupted) -> None:
        """Answer an interrupted question in a proactive turn through the stored conversation reference."""
        scope = _question_scope(entry.payload)
        message = render.incoming_message(entry.payload["activity"], tenant=scope.tenant)
        async with self._answering(entry.event_id):
            try:
                continuation = await self._continuation(message.ref.channel, message.ref.thread)
            except TeamsDeliveryError as exc:
                log.error("Teams message %s cannot be answered again: %s", message.ref.message, exc)
                return

            async def turn(context: TurnContext) -> None:
                await self._answer(context, message, scope, streamable=False)

            try:
                await self.cloud.continue_conversation(self.settings.app_id, continuation, turn)
            except Exception:
                log.exception("Teams answer turn failed for conversation %s", message.ref.channel)

    async def _give_up(self, entry: Interrupted) -> None:
        """Ask the asker of a question interrupted too often to ask again (one proactive post)."""
        ref = render.conversation_ref(entry.payload["activity"], tenant=_question_scope(entry.payload).tenant)
        try:
            await self._post_proactively(
                ref.channel, ref.thread, render.text_activity(render.INTERRUPTED_TEXT), None
            )
        except TeamsDeliveryError as exc:
            log.error("could not post the apology to Teams: %s", exc)

    async def _answer(
        self, context: TurnContext, message: IncomingMessage, scope: Scope, *, streamable: bool = True
    ) -> None:
        """``streamable`` False: a resumed answer in a proactive turn is posted whole, never streamed."""
        collections = scope.searchable
        personal = render.conversation_type(message.raw) == "personal"
        streaming = streamable and self.settings.stream_personal and personal
        stream = TeamsStream(context, interval=self.settings.stream_interval) if streaming else None
        answer: Answer | None = None
        try:
            await self._typing(context)
            if stream is not None:
                await stream.inform(render.WORKING_TEXT)
                answer = await self._collect(message, collections, stream)
                message_id = await stream.finish(render.answer_activity(answer))
            else:
                options = TypingOptions(
                    initial_delay_ms=int(self.settings.typing_interval * 1000),
                    interval_ms=int(self.settings.typing_interval * 1000),
                )
                async with TypingIndicator(context, typing_options=options):
                    answer = await self._collect(message, collections, None)
                response = await send_with_retry(
                    context, Activity.model_validate(render.answer_activity(answer))
                )
                message_id = response.id if response else None
        except aiohttp.ClientResponseError as exc:
            # The connector refused the post even after the retries: one line, no traceback.
            if answer is not None and await self._queue(
                message, render.answer_activity(answer), answer.audit_id, exc.status
            ):
                return
            log.error(
                "Teams connector answered HTTP %s for conversation %s; the answer was not posted",
                exc.status,
                message.ref.channel,
            )
            if not retryable(exc.status):  # e.g. a rejected activity: the apology may still go out
                await self._apologise(context, stream, message)
            return
        except Exception:
            log.exception("answering a Teams message failed (conversation %s)", message.ref.channel)
            await self._apologise(context, stream, message)
            return
        if answer is not None and answer.audit_id and message_id:
            await asyncio.to_thread(
                self.conversations.link_answer, message.ref.channel, message_id, answer.audit_id
            )

    @staticmethod
    async def _typing(context: TurnContext) -> None:
        """The typing indicator is a courtesy: a throttled one must not cost the answer."""
        try:
            await context.send_activity(Activity(type=ActivityTypes.typing))
        except aiohttp.ClientResponseError as exc:
            log.debug("Teams typing indicator refused (HTTP %s)", exc.status)

    async def _collect(
        self, message: IncomingMessage, collections: list[str] | None, stream: TeamsStream | None
    ) -> Answer:
        final: Answer | None = None
        async for event in self.engine.stream(message, collections=collections):
            if isinstance(event, Answer):
                final = event
            elif stream is not None:
                await stream.push(event)
        if final is None:
            raise RuntimeError("the answer engine finished without an answer")
        return final

    async def _queue(
        self, message: IncomingMessage, activity: dict[str, Any], audit_id: str | None, status: int
    ) -> bool:
        """Keep a reply the connector did not take (an outage past the retries) for redelivery."""
        if self.outbox is None or not retryable(status):
            return False
        await queue_answer(self.outbox, message.ref, [queued_item(activity, audit_id)], status)
        return True

    async def _apologise(
        self, context: TurnContext, stream: TeamsStream | None, message: IncomingMessage
    ) -> None:
        try:
            if stream is not None and stream.started and not stream.finished:
                await stream.finish(render.apology_activity())
            else:
                await send_with_retry(context, Activity.model_validate(render.apology_activity()))
        except aiohttp.ClientResponseError as exc:
            if not await self._queue(message, render.apology_activity(), None, exc.status):
                log.error("could not post the apology to Teams (HTTP %s)", exc.status)
        except Exception:
            log.exception("could not post the apology to Teams")

    async def _on_turn_error(self, context: TurnContext, error: Exception) -> None:
        """Replaces the SDK default (which posts ``Exception caught : …`` into the chat)."""
        log.error("Teams turn failed", exc_info=(type(error), error, error.__traceback__))
        if context.activity is None or context.activity.type != ActivityTypes.message:
            return
        try:
            await context.send_activity(Activity.model_validate(render.apology_activity()))
        except Exception:
            log.exception("could not post the apology to Teams")

    # -- conversation references ---------------------------------------------------------
    async def _remember(self, activity: Mapping[str, Any]) -> None:
        key = _conversation_key(activity)
        reference = _reference_dict(activity, key)
        await asyncio.to_thread(
            self.conversations.save,
            key,
            reference,
            conversation_type=render.conversation_type(activity),
            aad_tenant_id=render.aad_tenant_id(activity),
            team_id=render.team_id(activity),
        )


def _as_dict(activity: Activity) -> dict[str, Any]:
    return activity.model_dump(mode="json", by_alias=True, exclude_none=True)


def _conversation_key(activity: Mapping[str, Any]) -> str:
    return render.base_conversation_id(str((activity.get("conversation") or {}).get("id") or ""))


def _reference_dict(activity: Mapping[str, Any], conversation_id: str) -> dict[str, Any]:
    """The Bot Framework conversation reference for proactive posts (no thread, no message id)."""
    reference = Activity.model_validate(dict(activity)).get_conversation_reference()
    reference.activity_id = None
    reference.conversation = reference.conversation.model_copy(update={"id": conversation_id})
    return reference.model_dump(mode="json", by_alias=True, exclude_none=True)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status}"
    return str(exc) or type(exc).__name__


def _question_payload(activity: Mapping[str, Any], scope: Scope) -> dict[str, Any]:
    """What is kept in flight to answer the message again: the activity and its resolved scope."""
    collections = None if scope.collections is None else list(scope.collections)
    return {"activity": dict(activity), "tenant": scope.tenant, "collections": collections}


def _question_scope(payload: Mapping[str, Any]) -> Scope:
    collections = payload.get("collections")
    return Scope(str(payload["tenant"]), None if collections is None else tuple(collections))


def _describe_interrupted(entry: Interrupted) -> str:
    conversation = _conversation_key(entry.payload.get("activity") or {})
    return f"message {entry.event_id.rsplit('@', 1)[0]} in {conversation}"
