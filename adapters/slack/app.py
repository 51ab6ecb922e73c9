"""The Slack adapter: a slack-bolt AsyncApp over HTTP (Events API) or Socket Mode.

Bolt verifies signatures (HTTP mode) and acks events before the listeners run
(``process_before_response=False``), so answering never delays the ack. A mention or a DM becomes
a ``Question`` (``question``) that the shared lifecycle (``bot.flow``) claims once, answers through
``adapters.slack.channel``, queues during an outage, resumes after a crash and apologises for; this
module keeps what is Slack's own: the Bolt app and its listeners, the feedback buttons, the
assistant thread's greeting, and digests (``send``, ``was_posted``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import Any, Literal

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import PLATFORM
from adapters.slack.channel import PROGRESS_REACTION, SlackChannel
from adapters.slack.http_checks import refusal_response
from adapters.slack.payloads import (
    PayloadError,
    feedback_click,
    incoming_message,
    is_from_bot,
    is_user_dm,
)
from adapters.slack.render import DIGEST_ITEMS_PER_MESSAGE, FEEDBACK_ACTIONS, answer_messages, digest_messages
from adapters.slack.retry import retry_handlers
from bot import wording
from bot.digest.compose import digest_marker
from bot.flow.lifecycle import Lifecycle
from bot.flow.question import NO_TENANT, Question
from bot.models import Answer, ConversationRef, Digest
from bot.state.audit import AuditLog
from bot.state.feedback import FeedbackStore, UnknownAuditRecord
from manifest.schema import Manifest
from manifest.scope import scope_for

log = logging.getLogger(__name__)

__all__ = ["EVENTS_PATH", "PROGRESS_REACTION", "Mode", "SlackAdapter", "SlackConfigError"]

DEFAULT_API_URL = "https://slack.com/api/"
SLACK_PREFIX = "/slack"
EVENTS_PATH = f"{SLACK_PREFIX}/events"

# The bot-token scopes each Web API method the code calls needs (Slack's method reference), in every
# kind of conversation kairan works in: public and private channels, DMs and group DMs.
# tests/adapters/slack/test_factory.py finds every call in this package and checks it is listed here.
HISTORY_SCOPES = ("channels:history", "groups:history", "im:history", "mpim:history")
METHOD_SCOPES: Mapping[str, tuple[str, ...]] = {
    "auth.test": (),
    "apps.connections.open": (),  # app-level token (connections:write)
    "chat.postMessage": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.startStream": ("chat:write",),
    "chat.appendStream": ("chat:write",),
    "chat.stopStream": ("chat:write",),
    "reactions.add": ("reactions:write",),
    "reactions.remove": ("reactions:write",),
    "assistant.threads.setStatus": ("assistant:write",),
    "assistant.threads.setSuggestedPrompts": ("assistant:write",),
    # was_posted: an interrupted digest post is looked for wherever the subscription posts.
    "conversations.history": HISTORY_SCOPES,
    "conversations.replies": HISTORY_SCOPES,
}
# The events the app subscribes to and the scope each needs.
EVENT_SCOPES: Mapping[str, tuple[str, ...]] = {
    "app_mention": ("app_mentions:read",),
    "assistant_thread_started": ("assistant:write",),
    "message.im": ("im:history",),
}
# manifest/slack/app-manifest.yaml must list exactly these.
BOT_SCOPES = tuple(sorted({scope for scopes in (*METHOD_SCOPES.values(), *EVENT_SCOPES.values())
                           for scope in scopes}))
BOT_EVENTS = tuple(EVENT_SCOPES)
# The largest Events API or interactivity request body read (kairan serve reads 64 KiB of others').
# Slack's own limits: a message holds up to 40,000 characters, and an event carries them twice (its
# text and its rich-text blocks); JSON may escape each as \uXXXX (6 bytes): 480,000 bytes with the
# envelope's fields. A button click carries the message it is on (ours stay within 12,000
# characters of blocks), percent-encoded as a form (9 bytes a character). 1 MiB holds either.
MAX_BODY_BYTES = 1024 * 1024
# Slack message metadata on digest posts: lets ``was_posted`` find a post after a crash.
DIGEST_EVENT_TYPE = "kairan_digest"
HISTORY_PAGE = 200  # messages per conversations.history page
HISTORY_PAGES = 10  # an interrupted digest post is looked for among the latest 2,000 messages

Mode = Literal["http", "socket"]
Payload = dict[str, Any]


class SlackConfigError(ValueError):
    """The adapter was given an inconsistent configuration (names what is missing)."""


class SlackAdapter:
    name = "slack"
    max_digest_items = DIGEST_ITEMS_PER_MESSAGE  # one post holds this many (Slack's 50-block limit)

    def __init__(
        self,
        *,
        lifecycle: Lifecycle,
        feedback: FeedbackStore,
        audit: AuditLog,
        manifest: Manifest | None,
        bot_token: str,
        signing_secret: str | None = None,
        app_token: str | None = None,
        mode: Mode = "http",
        api_url: str | None = None,
        streaming: bool = False,
        stream_buffer: int = 256,
        connect_timeout: float = 30.0,
    ) -> None:
        if not bot_token:
            raise SlackConfigError("the Slack bot token (xoxb-…) is empty")
        if mode == "http" and not signing_secret:
            raise SlackConfigError("HTTP mode needs the Slack signing secret to verify requests")
        if mode == "socket" and not app_token:
            raise SlackConfigError("Socket Mode needs the app-level token (xapp-…)")
        if mode not in ("http", "socket"):
            raise SlackConfigError(f"mode must be 'http' or 'socket', got {mode!r}")
        self.feedback = feedback
        self.audit = audit
        self.manifest = manifest or Manifest()
        self.mode: Mode = mode
        self.connect_timeout = connect_timeout
        self._app_token = app_token
        self._signing_secret = signing_secret or ""
        base_url = api_url or DEFAULT_API_URL
        self.client = AsyncWebClient(token=bot_token, base_url=base_url, retry_handlers=retry_handlers())
        self.channel = SlackChannel(self.client, streaming=streaming, stream_buffer=stream_buffer)
        self.flow = lifecycle.flow(self.channel, ready=self.connected)
        # Bolt gets a client of its own without the token: ``_authorize`` hands it the token per request.
        self._bolt_client = AsyncWebClient(base_url=base_url, retry_handlers=retry_handlers())

        async def authorize() -> AuthorizeResult:  # Bolt reads the parameter names: none wanted
            return await self._authorize()

        self.app = AsyncApp(
            name="kairan",
            client=self._bolt_client,
            authorize=authorize,
            signing_secret=signing_secret or "",
            request_verification_enabled=mode == "http",
            process_before_response=False,
            logger=log.getChild("bolt"),
        )
        self.app.event("app_mention")(self._on_app_mention)
        self.app.event("message")(self._on_message)
        self.app.event("assistant_thread_started")(self._on_assistant_thread_started)
        self.app.action(re.compile(r"^kairan_feedback_"))(self._on_feedback)
        self._socket: AsyncSocketModeHandler | None = None
        self._authorization: AuthorizeResult | None = None
        self._auth_lock = asyncio.Lock()
        self._ready = False
        self._bot_user_id: str | None = None

    @property
    def streaming(self) -> bool:
        return self.channel.streaming

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        if self._ready:
            return
        # One pooled HTTP session for every Web API call (slack_sdk opens one per call otherwise).
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.client.timeout))
        self.client.session = self._bolt_client.session = session
        stage = "auth.test"
        try:
            self._bot_user_id = (await self._authorize()).bot_user_id
            if self.mode == "socket":
                stage = "apps.connections.open"
                self._socket = await self._connect_socket()
        except SlackApiError as exc:
            await self._close_session()
            raise SlackConfigError(f"Slack {stage} failed: {exc.response.get('error')}") from None
        except BaseException:
            await self._close_session()
            raise
        self._ready = True
        await self.flow.start()
        log.info("Slack adapter ready (%s mode, bot user %s)", self.mode, self._bot_user_id)

    async def _connect_socket(self) -> AsyncSocketModeHandler:
        handler = AsyncSocketModeHandler(self.app, app_token=self._app_token, web_client=self.client)
        try:
            handler.client.wss_uri = await handler.client.issue_new_wss_url()
            # The SDK retries a failed WebSocket connect forever; start() must not hang on it.
            await asyncio.wait_for(handler.connect_async(), timeout=self.connect_timeout)
        except TimeoutError:
            await handler.close_async()
            raise SlackConfigError(
                f"the Socket Mode WebSocket did not open within {self.connect_timeout:.0f} s"
            ) from None
        except BaseException:
            await handler.close_async()
            raise
        return handler

    async def stop(self) -> None:
        self._ready = False
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        await self.flow.stop()
        await self._close_session()

    async def _close_session(self) -> None:
        session, self.client.session, self._bolt_client.session = self.client.session, None, None
        if session is not None:
            await session.close()

    async def _authorize(self) -> AuthorizeResult:
        """Bolt's authorize hook: one auth.test per adapter, shared by every request.

        (Bolt's single-team authorization calls auth.test for every request until the first
        call returns, which would put a Web API round trip before each ack of a burst.)
        """
        async with self._auth_lock:
            if self._authorization is None:
                auth = await self.client.auth_test()
                self._authorization = AuthorizeResult.from_auth_test_response(
                    auth_test_response=auth, bot_token=self.client.token
                )
        return self._authorization

    def connected(self) -> bool:
        if not self._ready:
            return False
        if self.mode == "http":
            return True
        client = self._socket.client if self._socket is not None else None
        session = client.current_session if client is not None else None
        return bool(client is not None and not client.closed and session is not None and not session.closed)

    # -- HTTP mode ---------------------------------------------------------------------------
    http_port: int | None = None  # served on kairan serve's own port

    def routes(self, path: str = EVENTS_PATH) -> list[web.RouteDef]:
        """Routes for the Events API and interactivity endpoint."""
        return [web.post(path, self.handle_http)]

    def http_endpoint(self) -> tuple[str, web.Application] | None:
        """``/slack/events`` as an application mounted at ``/slack`` (HTTP mode; Socket Mode: None)."""
        if self.mode != "http":
            return None
        app = web.Application()
        app.add_routes(self.routes(EVENTS_PATH.removeprefix(SLACK_PREFIX)))
        return SLACK_PREFIX, app

    async def handle_http(self, request: web.Request) -> web.StreamResponse:
        if not self._ready or self.mode != "http":
            return web.json_response({"error": "not ready"}, status=503)
        # Slack's requests may be larger than what the server reads of others (MAX_BODY_BYTES).
        request = request.clone(client_max_size=MAX_BODY_BYTES)
        refused = await refusal_response(request, signing_secret=self._signing_secret)
        if refused is not None:
            return refused
        bolt_request = await to_bolt_request(request)
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    # -- proactive ---------------------------------------------------------------------------
    async def send(self, ref: ConversationRef, reply: Answer | Digest) -> None:
        if isinstance(reply, Answer):
            for message in answer_messages(reply):
                await self.channel.post_message(ref.channel, ref.thread, message)
            return
        metadata = {"event_type": DIGEST_EVENT_TYPE, "event_payload": {"marker": digest_marker(reply)}}
        for message in digest_messages(reply):
            await self.channel.post_message(ref.channel, ref.thread, message, metadata=metadata)

    async def was_posted(self, ref: ConversationRef, marker: str) -> bool:
        """Whether a digest with ``marker`` is among the channel's recent messages (the latest 2,000).

        The digest runner asks this after a send that failed or was interrupted (the process
        died between the post and the ledger update), so each digest reaches the channel once.
        Raises ``SlackApiError`` when Slack cannot be asked (the runner then cannot tell).
        """
        args: Payload = {"channel": ref.channel, "include_all_metadata": True, "limit": HISTORY_PAGE}
        cursor = ""
        for _ in range(HISTORY_PAGES):
            page = {**args, "cursor": cursor} if cursor else args
            if ref.thread:
                response = await self.client.conversations_replies(ts=ref.thread, **page)
            else:
                response = await self.client.conversations_history(**page)
            for message in response.get("messages") or []:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == DIGEST_EVENT_TYPE and payload.get("marker") == marker:
                    return True
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                break
        return False

    # -- listeners ---------------------------------------------------------------------------
    async def _on_app_mention(self, body: Payload, event: Payload, context: AsyncBoltContext) -> None:
        await self._ask(body, event, context)

    async def _on_message(self, body: Payload, event: Payload, context: AsyncBoltContext) -> None:
        if not is_user_dm(event):
            return  # channel messages arrive as app_mention; edits, joins and bot posts are ignored
        await self._ask(body, event, context)

    async def _ask(self, body: Payload, event: Payload, context: AsyncBoltContext) -> None:
        bot_user_id = context.bot_user_id or self._bot_user_id
        if is_from_bot(event, bot_user_id):
            log.debug("Slack %s event %s ignored: posted by a bot", event.get("type"), body.get("event_id"))
            return
        try:
            question = self.question(body, event, bot_user_id=bot_user_id)
        except PayloadError as exc:
            log.warning("Slack %s event ignored: %s", event.get("type"), exc)
            return
        await self.flow.handle(question)

    def question(
        self, body: Mapping[str, Any], event: Mapping[str, Any], *, bot_user_id: str | None
    ) -> Question:
        """An app_mention or a DM as a question; raises PayloadError when a field it needs is missing.

        Its key is the event id, so Slack's retries are skipped; a DM's is the message itself,
        since a mention in a DM arrives twice, as app_mention and as message.im (answered once).
        """
        event_id = body.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            raise PayloadError("Slack event callback has no 'event_id'")
        channel = str(event.get("channel") or "")
        dm = event.get("channel_type") == "im" or channel.startswith("D")
        scope = scope_for(self.manifest, PLATFORM, [channel])
        tenant = scope.tenant if scope else NO_TENANT
        message = incoming_message(event, tenant=tenant, bot_user_id=bot_user_id)
        key = f"{channel}:{message.ref.message}" if dm else event_id
        context = {"event": event_id, "team": body.get("team_id") or event.get("team"), "im": dm}
        return Question(key=key, message=message, scope=scope, context=context)

    async def _on_assistant_thread_started(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        event_id = body.get("event_id")
        if not event_id or not await self.flow.state(self.flow.ledger.claim, PLATFORM, event_id):
            return
        thread = event.get("assistant_thread") or {}
        channel, thread_ts = thread.get("channel_id"), thread.get("thread_ts")
        if not channel or not thread_ts:
            log.warning("assistant_thread_started %s without channel_id/thread_ts", event_id)
            return
        prompts = [{"title": title, "message": text} for title, text in wording.SUGGESTED_PROMPTS]
        try:
            await self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=wording.GREETING)
            await self.client.assistant_threads_setSuggestedPrompts(
                channel_id=channel, thread_ts=thread_ts, prompts=prompts
            )
        except SlackApiError as exc:
            log.warning("greeting the assistant thread failed: %s", exc.response.get("error"))

    async def _on_feedback(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        try:
            click = feedback_click(body, action, FEEDBACK_ACTIONS)
        except PayloadError as exc:
            log.warning("ignoring a feedback click: %s", exc)
            return
        text = wording.FEEDBACK_THANKS
        try:
            user_hash = await self.flow.state(self.audit.hash_user, click.user)
            await self.flow.state(self.feedback.record, click.audit_id, user_hash, click.value)
        except UnknownAuditRecord:
            log.warning("feedback for unknown audit record %s", click.audit_id)
            text = wording.FEEDBACK_FAILED
        except Exception:
            log.exception("storing feedback for audit record %s failed", click.audit_id)
            text = wording.FEEDBACK_FAILED
        if click.channel:
            try:
                await self.client.chat_postEphemeral(
                    channel=click.channel, user=click.user, text=text, thread_ts=click.thread
                )
            except SlackApiError as exc:
                log.warning("feedback acknowledgement failed: %s", exc.response.get("error"))

