"""The Microsoft Teams adapter on the Microsoft 365 Agents SDK (hosting-core / hosting-aiohttp).

``POST /api/messages`` (mounted by ``kairan serve`` on its own app, or on ``platforms.teams.port``)
sits behind the SDK's ``jwt_authorization_middleware`` (Bot Framework /
Entra tokens, validated against the SDK's ``AgentAuthConfiguration``); the SDK's ``CloudAdapter``
runs an ``AgentApplication`` whose routes only do quick work (store the conversation reference,
resolve the tenant, parse the question) and acknowledge. The question is then the shared
lifecycle's (``bot.flow``): claimed once across redeliveries and replicas, answered through
``adapters.teams.channel`` in a proactive turn with the inbound identity (so Teams gets its HTTP
response within its deadline however long the LLM takes), queued during an outage, answered
again by a replica when its bot died. The SDK's default ``on_turn_error``, which posts the
exception text, is replaced by a short apology; the traceback goes to the log.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import warnings
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from microsoft_agents.activity import Activity, ActivityTypes, InvokeResponse
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_middleware
from microsoft_agents.hosting.core import (
    AgentApplication,
    AgentAuthConfiguration,
    MemoryStorage,
    TurnContext,
    TurnState,
)
from microsoft_agents.hosting.core.authorization import ClaimsIdentity, Connections

from adapters.teams import render
from adapters.teams.auth import inbound_guard, policy_for
from adapters.teams.channel import LiveTurn, StreamSettings, TeamsChannel, queued_item
from adapters.teams.connector import NullFreeClientFactory, quiet_missing_app_id
from adapters.teams.inquiry import TeamsInquiries, TeamsInquiryPort
from adapters.teams.references import ConversationStore
from adapters.teams.retry import TeamsDeliveryError, quiet_sdk_connector_errors
from adapters.teams.routing import resolve_scope
from bot import wording
from bot.flow.lifecycle import Lifecycle
from bot.flow.question import NO_TENANT, Question
from bot.models import Answer, ConversationRef, Digest
from bot.state.feedback import FeedbackStore, UnknownAuditRecord
from manifest.schema import Manifest

log = logging.getLogger(__name__)

__all__ = ["TeamsAdapter", "TeamsDeliveryError", "TeamsSettings"]

API_PREFIX = "/api"
MESSAGES_PATH = "/messages"  # POST /api/messages, the Bot Framework convention


@dataclass(frozen=True)
class TeamsSettings:
    app_id: str
    port: int | None = None  # None: /api/messages on kairan serve's own port
    aad_tenant_id: str | None = None  # single-tenant Entra app: refuse other tenants
    stream_personal: bool = True
    stream_interval: float = 1.0  # Teams accepts about one streaming update per second
    typing_interval: float = 3.0
    anonymous: bool = False  # the development mode (platforms.teams.dev_anonymous): no token, no credentials

    @property
    def streaming(self) -> StreamSettings:
        return StreamSettings(self.stream_personal, self.stream_interval, self.typing_interval)


class TeamsAdapter:
    name = "teams"

    def __init__(
        self,
        *,
        settings: TeamsSettings,
        auth: AgentAuthConfiguration,
        connections: Connections,
        lifecycle: Lifecycle,
        manifest: Manifest,
        conversations: ConversationStore,
        feedback: FeedbackStore,
        hash_user: Callable[[str], str],
    ) -> None:
        self.settings = settings
        self.auth = auth
        self.manifest = manifest
        self.conversations = conversations
        self.feedback = feedback
        self.hash_user = hash_user
        quiet_sdk_connector_errors()
        if settings.anonymous:
            quiet_missing_app_id()
        # The SDK's client factory, whose connector clients send no nulls (adapters.teams.connector).
        self.cloud = CloudAdapter(channel_service_client_factory=NullFreeClientFactory(connections))
        self.cloud.on_turn_error = self._on_turn_error
        self.channel = TeamsChannel(
            self.cloud,
            app_id=settings.app_id,
            conversations=conversations,
            settings=settings.streaming,
            anonymous=settings.anonymous,
        )
        self.flow = lifecycle.flow(self.channel, ready=self.connected)
        self.inquiries: TeamsInquiries | None = None  # the 照会 loop, when the runtime has one
        if lifecycle.inquiries is not None:
            port = TeamsInquiryPort(self.channel, ready=self.connected)
            self.inquiries = TeamsInquiries(lifecycle.inquiries, port)
        self.app: AgentApplication[TurnState] = AgentApplication[TurnState](
            storage=MemoryStorage(),
            connection_manager=connections,
            start_typing_timer=False,  # the answer comes later, in its own turn
            remove_recipient_mention=False,  # render.incoming_message removes it
        )
        self._register_routes()
        self.web_app = self._build_web_app()
        self._started = False

    # -- Adapter protocol ---------------------------------------------------------------
    async def start(self) -> None:
        """Ready to answer; the endpoint is served by whoever mounts ``http_endpoint()``."""
        if not self._started:
            self._started = True
            await self.flow.start()

    async def stop(self) -> None:
        await self.flow.stop()
        self._started = False

    def connected(self) -> bool:
        return self._started

    # -- LoopbackOnly --------------------------------------------------------------------
    def loopback_only(self) -> str | None:
        """In the development mode the endpoint takes requests without a token: this machine only."""
        if self.settings.anonymous:
            return "platforms.teams.dev_anonymous accepts Teams activities without a token"
        return None

    # -- ServesHttp ---------------------------------------------------------------------
    @property
    def http_port(self) -> int | None:
        return self.settings.port

    def http_endpoint(self) -> tuple[str, web.Application]:
        """``/api/messages`` behind the SDK's JWT middleware, as an application mounted at ``/api``."""
        return API_PREFIX, self.web_app

    async def send(self, ref: ConversationRef, reply: Answer | Digest) -> None:
        """Post an answer or a digest proactively to a conversation the bot was seen in."""
        if isinstance(reply, Answer):
            item = queued_item(render.answer_activity(reply), reply.audit_id)
        else:
            item = queued_item(render.digest_activity(reply))
        await self.channel.post(ref.channel, ref.thread, item)

    # -- introspection for tests ----------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return len(self.flow.in_progress)

    async def drain(self) -> None:
        """Wait for every question being handled."""
        await self.flow.drain()

    # -- HTTP --------------------------------------------------------------------------
    def _build_web_app(self) -> web.Application:
        # The SDK's middleware also stores request["claims_identity"] under a str key, which
        # aiohttp >= 3.12 warns about on every request; silence exactly that warning from there.
        warnings.filterwarnings(
            "ignore", category=web.NotAppKeyWarning, module=r"microsoft_agents\.hosting\.aiohttp\."
        )
        # Then kairan's own checks: issuer, tenant and service URL (adapters.teams.auth).
        guard = inbound_guard(policy_for(self.manifest, self.settings.aad_tenant_id))
        app = web.Application(middlewares=[jwt_authorization_middleware, guard])
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
        if self.inquiries is not None:
            self.inquiries.register(self.app)

    async def _on_message(self, context: TurnContext, _state: TurnState) -> None:
        activity = _as_dict(context.activity)
        await self._remember(activity)
        if self.inquiries is not None and await self.inquiries.message(activity, reply=_replier(context)):
            return  # a 「照会する」, or a reply in a 照会's thread: not a question
        live = LiveTurn(context.identity or ClaimsIdentity(), context.activity.model_copy(deep=True))
        self.flow.receive(self.question(activity, live=live))

    def question(self, activity: Mapping[str, Any], *, live: LiveTurn | None = None) -> Question:
        """A message activity as a question (its key: the message id within its conversation)."""
        scope = resolve_scope(self.manifest, activity, allowed_aad_tenant=self.settings.aad_tenant_id)
        message = render.incoming_message(activity, tenant=scope.tenant if scope else NO_TENANT)
        key = render.message_key(message.ref) or uuid.uuid4().hex
        context = {"conversation_type": render.conversation_type(activity)}
        return Question(key=key, message=message, scope=scope, context=context, live=live)

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
        status = await self._record_vote(_as_dict(context.activity))
        invoke = Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=status, body={}))
        await context.send_activity(invoke)

    async def _record_vote(self, activity: Mapping[str, Any]) -> int:
        """The invoke response's status: 200 stored, 400 unreadable (e.g. no ``replyToId``: the Agents
        Playground sends none), 404 a message kairan did not record."""
        try:
            vote = render.feedback_vote(activity)
        except render.TeamsPayloadError as exc:
            log.warning("feedback invoke refused (400): %s", exc)
            return 400
        if vote is None:
            return 400
        key = _conversation_key(activity)
        audit_id = await asyncio.to_thread(self.conversations.audit_id_for, key, vote.message_id)
        if audit_id is None:
            log.warning("feedback on Teams message %s, which kairan did not record", vote.message_id)
            return 404
        try:
            await asyncio.to_thread(
                self.feedback.record, audit_id, self.hash_user(vote.user), vote.value, vote.comment
            )
        except UnknownAuditRecord:
            log.warning("feedback on Teams message %s: audit record %s is gone", vote.message_id, audit_id)
            return 404
        return 200

    async def _on_turn_error(self, context: TurnContext, error: Exception) -> None:
        """Replaces the SDK default (which posts ``Exception caught : …`` into the chat)."""
        log.error("Teams turn failed", exc_info=(type(error), error, error.__traceback__))
        if context.activity is None or context.activity.type != ActivityTypes.message:
            return
        try:
            await context.send_activity(Activity.model_validate(render.text_activity(wording.APOLOGY)))
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


def _replier(context: TurnContext) -> Callable[[str], Awaitable[object]]:
    """Answers in the turn's conversation with one of ``bot.wording``'s notices."""

    async def reply(text: str) -> object:
        return await context.send_activity(Activity.model_validate(render.text_activity(text)))

    return reply


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
