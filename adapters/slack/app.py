"""The Slack adapter: a slack-bolt AsyncApp over HTTP (Events API) or Socket Mode.

Bolt verifies signatures (HTTP mode) and acks events before the listeners run
(``process_before_response=False``), so answering never delays the ack. Each event is
claimed in the persistent EventLedger first: Slack's retries, and redeliveries after a
restart, are skipped. Every failure while answering ends in a short Japanese apology in
the thread and a logged traceback, never silence and never exception text in chat.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Protocol, TypeVar

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from adapters.redelivery import Redelivery
from adapters.resume import Resumer
from adapters.slack.payloads import (
    PLATFORM,
    PayloadError,
    feedback_click,
    incoming_message,
    is_user_dm,
    thread_root,
)
from adapters.slack.render import (
    DIGEST_ITEMS_PER_MESSAGE,
    FEEDBACK_ACTIONS,
    FEEDBACK_FAILED_TEXT,
    INTERRUPTED_TEXT,
    PROGRESS_STATUS,
    THANKS_TEXT,
    UNMAPPED_CHANNEL_TEXT,
    SlackMessage,
    answer_messages,
    apology_message,
    digest_messages,
    notice_message,
)
from adapters.slack.retry import method_of, retry_handlers
from bot.digest.compose import digest_marker
from bot.models import Answer, ConversationRef, Digest, IncomingMessage
from bot.state.audit import AuditLog
from bot.state.events import EventLedger
from bot.state.feedback import FeedbackStore, UnknownAuditRecord
from bot.state.inflight import InFlight, Interrupted
from bot.state.outbox import Outbox, Queued
from manifest.schema import Manifest
from manifest.scope import Scope, scope_for

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"
EVENTS_PATH = "/slack/events"
PROGRESS_REACTION = "hourglass_flowing_sand"
EMPTY_QUESTION_TEXT = "法令や通知についてのご質問を、メンションに続けて書いてください。"
GREETING_TEXT = "法令・通知についてご質問ください。回答には根拠となる条文へのリンクを付けます。"
SUGGESTED_PROMPTS = (
    {"title": "審査基準とは", "message": "行政手続法の審査基準について教えて"},
    {"title": "標準処理期間", "message": "申請に対する処分の標準処理期間は？"},
)
# Errors meaning "this workspace or app cannot stream": streaming is then switched off.
_STREAM_UNSUPPORTED = {"unknown_method", "not_allowed", "missing_scope", "not_allowed_token_type",
                       "feature_not_enabled", "method_deprecated"}

# What the code calls and subscribes to; manifest/slack/app-manifest.yaml must list exactly these.
BOT_SCOPES = (
    "app_mentions:read", "assistant:write", "channels:history", "chat:write", "im:history", "reactions:write",
)
BOT_EVENTS = ("app_mention", "assistant_thread_started", "message.im")
METHOD_SCOPES: Mapping[str, str | None] = {
    "auth.test": None,
    "apps.connections.open": None,  # app-level token (connections:write)
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "chat.startStream": "chat:write",
    "chat.appendStream": "chat:write",
    "chat.stopStream": "chat:write",
    "reactions.add": "reactions:write",
    "reactions.remove": "reactions:write",
    "assistant.threads.setStatus": "assistant:write",
    "assistant.threads.setSuggestedPrompts": "assistant:write",
    "conversations.history": "channels:history",  # was_posted: find an interrupted digest post
    "conversations.replies": "channels:history",
}
# Slack message metadata on digest posts: lets ``was_posted`` find a post after a crash.
DIGEST_EVENT_TYPE = "kairan_digest"
HISTORY_PAGE = 200  # messages per conversations.history page
HISTORY_PAGES = 10  # an interrupted digest post is looked for among the latest 2,000 messages
CLAIMS_REMEMBERED = 10_000  # event ids kept in memory to skip Slack's retries without a DB write

Mode = Literal["http", "socket"]


T = TypeVar("T")
Payload = dict[str, Any]


class AnswerStreamer(Protocol):
    """What the adapter needs from bot.engine.AnswerEngine: ``answer`` (single messages) and
    ``stream`` (Slack streaming on)."""

    async def answer(
        self, message: IncomingMessage, *, collections: Sequence[str] | None = None
    ) -> Answer: ...

    def stream(
        self, message: IncomingMessage, *, collections: Sequence[str] | None = None
    ) -> AsyncIterator[str | Answer]: ...


class SlackConfigError(ValueError):
    """The adapter was given an inconsistent configuration (names what is missing)."""


@dataclass(frozen=True)
class _Progress:
    kind: Literal["reaction", "status"]
    channel: str
    ts: str  # the reacted message (reaction) or the thread (status)


class SlackAdapter:
    name = "slack"
    max_digest_items = DIGEST_ITEMS_PER_MESSAGE  # one post holds this many (Slack's 50-block limit)

    def __init__(
        self,
        *,
        engine: AnswerStreamer,
        ledger: EventLedger,
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
        drain_timeout: float = 30.0,
        connect_timeout: float = 30.0,
        outbox: Outbox | None = None,
        redeliver_interval: float = 30.0,
        inflight: InFlight | None = None,
        resume_interval: float = 60.0,
    ) -> None:
        if not bot_token:
            raise SlackConfigError("the Slack bot token (xoxb-…) is empty")
        if mode == "http" and not signing_secret:
            raise SlackConfigError("HTTP mode needs the Slack signing secret to verify requests")
        if mode == "socket" and not app_token:
            raise SlackConfigError("Socket Mode needs the app-level token (xapp-…)")
        if mode not in ("http", "socket"):
            raise SlackConfigError(f"mode must be 'http' or 'socket', got {mode!r}")
        self.engine = engine
        self.ledger = ledger
        self.feedback = feedback
        self.audit = audit
        self.manifest = manifest
        self.mode: Mode = mode
        self.streaming = streaming
        self.stream_buffer = stream_buffer
        self.drain_timeout = drain_timeout
        # Answers Slack did not take even after the retries wait here and are posted again later.
        self.outbox = outbox
        self.redeliver_interval = redeliver_interval
        self._redelivery: Redelivery | None = None
        # Questions being answered; one its bot died answering is answered again by a replica.
        self.inflight = inflight
        self._resumer = None if inflight is None else Resumer(
            inflight, PLATFORM, answer=self._answer_again, give_up=self._give_up, spawn=self._spawn,
            label="Slack", describe=_describe_interrupted, interval=resume_interval, run=self._state,
        )
        self._spawned: set[asyncio.Task[None]] = set()
        self.connect_timeout = connect_timeout
        self._app_token = app_token
        base_url = api_url or DEFAULT_API_URL
        self.client = AsyncWebClient(token=bot_token, base_url=base_url, retry_handlers=retry_handlers())
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
        self._stream_supported = True
        self._inflight: set[asyncio.Task[Any]] = set()
        self._claimed: OrderedDict[str, None] = OrderedDict()  # event ids this process has claimed
        self._state_pool: ThreadPoolExecutor | None = None

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
        if self.outbox is not None:
            self._redelivery = Redelivery(
                self.outbox, PLATFORM, self._post_queued, classify=_outage, label="Slack",
                describe=lambda entry: f"for event {entry.key} in {entry.channel}", reason=_api_error,
                interval=self.redeliver_interval,
            )
            self._redelivery.start()
        if self._resumer is not None:
            self._resumer.start()
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
        if self._redelivery is not None:
            await self._redelivery.stop()
            self._redelivery = None
        if self._resumer is not None:
            await self._resumer.stop()
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        pending = {t for t in self._inflight if not t.done()}
        if pending:
            _, still = await asyncio.wait(pending, timeout=self.drain_timeout)
            if still:
                log.warning("%d Slack answers still running at stop", len(still))
        await self._close_session()
        pool, self._state_pool = self._state_pool, None
        if pool is not None:
            pool.shutdown(wait=False)

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
    def routes(self, path: str = EVENTS_PATH) -> list[web.RouteDef]:
        """Routes for the Events API and interactivity endpoint (mount on the serve app)."""
        return [web.post(path, self.handle_http)]

    async def handle_http(self, request: web.Request) -> web.Response:
        if not self._ready or self.mode != "http":
            return web.json_response({"error": "not ready"}, status=503)
        bolt_request = await to_bolt_request(request)
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    # -- proactive ---------------------------------------------------------------------------
    async def send(self, ref: ConversationRef, reply: Answer | Digest) -> None:
        if isinstance(reply, Answer):
            for message in answer_messages(reply):
                await self._post(ref.channel, ref.thread, message)
            return
        metadata = {"event_type": DIGEST_EVENT_TYPE, "event_payload": {"marker": digest_marker(reply)}}
        for message in digest_messages(reply):
            await self._post(ref.channel, ref.thread, message, metadata=metadata)

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
    async def _on_app_mention(
        self, body: Payload, event: Payload, request: AsyncBoltRequest, context: AsyncBoltContext
    ) -> None:
        await self._tracked(self._handle_question(body, event, request, context))

    async def _on_message(
        self, body: Payload, event: Payload, request: AsyncBoltRequest, context: AsyncBoltContext
    ) -> None:
        if not is_user_dm(event):
            return  # channel messages arrive as app_mention; edits, joins and bot posts are ignored
        await self._tracked(self._handle_question(body, event, request, context))

    async def _on_assistant_thread_started(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        event_id = body.get("event_id")
        if not event_id or not await self._state(self.ledger.claim, PLATFORM, event_id):
            return
        thread = event.get("assistant_thread") or {}
        channel, thread_ts = thread.get("channel_id"), thread.get("thread_ts")
        if not channel or not thread_ts:
            log.warning("assistant_thread_started %s without channel_id/thread_ts", event_id)
            return
        try:
            await self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=GREETING_TEXT)
            await self.client.assistant_threads_setSuggestedPrompts(
                channel_id=channel, thread_ts=thread_ts, prompts=[dict(p) for p in SUGGESTED_PROMPTS]
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
        text = THANKS_TEXT
        try:
            user_hash = await self._state(self.audit.hash_user, click.user)
            await self._state(self.feedback.record, click.audit_id, user_hash, click.value)
        except UnknownAuditRecord:
            log.warning("feedback for unknown audit record %s", click.audit_id)
            text = FEEDBACK_FAILED_TEXT
        except Exception:
            log.exception("storing feedback for audit record %s failed", click.audit_id)
            text = FEEDBACK_FAILED_TEXT
        if click.channel:
            try:
                await self.client.chat_postEphemeral(
                    channel=click.channel, user=click.user, text=text, thread_ts=click.thread
                )
            except SlackApiError as exc:
                log.warning("feedback acknowledgement failed: %s", exc.response.get("error"))

    # -- answering ---------------------------------------------------------------------------
    async def _state(self, func: Callable[..., T], *args: Any) -> T:
        """Run a short state-database call on the adapter's own threads.

        Kept apart from the default executor, where the engine's searches queue, so that
        claiming an event (and with it the first visible feedback) never waits behind them.
        """
        if self._state_pool is None:
            self._state_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="slack-state")
        return await asyncio.get_running_loop().run_in_executor(self._state_pool, partial(func, *args))

    def _remember_claim(self, event_id: str) -> None:
        """Keep the most recent claimed event ids (Slack retries within minutes) in memory."""
        self._claimed[event_id] = None
        self._claimed.move_to_end(event_id)
        while len(self._claimed) > CLAIMS_REMEMBERED:
            self._claimed.popitem(last=False)

    async def _tracked(self, work: Any) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await work
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _handle_question(
        self, body: Payload, event: Payload, request: AsyncBoltRequest, context: AsyncBoltContext
    ) -> None:
        event_id = body.get("event_id")
        channel, ts = event.get("channel"), event.get("ts")
        if not event_id or not channel or not ts:
            log.warning("Slack %s event without event_id/channel/ts ignored", event.get("type"))
            return
        retries = request.headers.get("x-slack-retry-num") or []
        retry = retries[0] if retries else None
        thread = thread_root(event)
        try:
            # A retry of an event this process has already claimed skips the database write.
            first = event_id not in self._claimed and await self._claim(body, event, event_id)
            self._remember_claim(event_id)
            if first and (event.get("channel_type") == "im" or str(channel).startswith("D")):
                # A mention in a DM may arrive as app_mention and as message.im: answer it once.
                first = await self._state(self.ledger.claim, PLATFORM, f"message:{channel}:{ts}")
                if not first and self._resumer is not None:
                    await self._resumer.done(event_id)
        except Exception:
            log.exception("claiming Slack event %s failed", event_id)
            await self._post_safely(channel, thread, apology_message())
            return
        if not first:
            log.info("Slack event %s already handled (retry %s): skipped", event_id, retry or "-")
            return
        await self._respond(body, event, context, channel, thread, event_id)

    async def _respond(
        self, body: Payload, event: Payload, context: AsyncBoltContext, channel: str, thread: str,
        event_id: str,
    ) -> None:
        """Answer a claimed question, then drop it from the questions in flight.

        Not when the task is cancelled (a bot stopped past its drain timeout): that question stays in
        flight and is resumed by a replica (``adapters.resume``).
        """
        async with self._answering(event_id):
            # The progress indicator goes out while the question is being answered (not before it):
            # its round trip stays off the answer's path, and every post waits for it (_answer).
            shown = asyncio.create_task(self._show_progress(event, channel, thread))
            try:
                await self._answer(body, event, context, channel, thread, shown, event_id)
            except SlackApiError as exc:
                # Slack refused a call even after the retries: one line, no traceback.
                status = exc.response.status_code
                log.error(
                    "Slack %s failed for event %s in %s: %s (HTTP %s); the answer was not posted",
                    method_of(exc.response.api_url), event_id, channel, exc.response.get("error"), status,
                )
                if status != 429 and status < 500:  # e.g. a rejected message: the apology may still go out
                    await self._post_safely(channel, thread, apology_message())
            except Exception:
                log.exception("answering Slack event %s in %s failed", event_id, channel)
                await self._post_safely(channel, thread, apology_message())
            finally:
                await self._clear_progress(await shown)

    async def _claim(self, body: Payload, event: Payload, event_id: str) -> bool:
        """Claim the event; with ``inflight``, also record the question until it is done."""
        if self._resumer is None:
            return await self._state(self.ledger.claim, PLATFORM, event_id)
        payload = {"body": {"event_id": event_id, "team_id": body.get("team_id")}, "event": dict(event)}
        return await self._resumer.claim(event_id, payload)

    def _answering(self, event_id: str) -> AbstractAsyncContextManager[None]:
        """Keeps the question in flight while it is answered and drops it after (not when cancelled)."""
        return nullcontext() if self._resumer is None else self._resumer.answering(event_id)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._tracked(work))
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    async def _answer_again(self, entry: Interrupted) -> None:
        """Answer a question its bot stopped answering, as if its event had just arrived."""
        body, event = entry.payload.get("body") or {}, entry.payload.get("event") or {}
        context = AsyncBoltContext({"bot_user_id": self._bot_user_id})
        channel, thread = str(event.get("channel")), thread_root(event)
        await self._respond(body, event, context, channel, thread, entry.event_id)

    async def _give_up(self, entry: Interrupted) -> None:
        event = entry.payload.get("event") or {}
        channel, thread = str(event.get("channel")), thread_root(event)
        await self._post_safely(channel, thread, notice_message(INTERRUPTED_TEXT))

    async def _answer(
        self, body: Payload, event: Payload, context: AsyncBoltContext, channel: str, thread: str,
        shown: asyncio.Future[Any], event_id: str,
    ) -> None:
        """Answer the question; ``shown`` (the progress indicator) is awaited before anything is posted."""
        scope = scope_for(self.manifest or Manifest(), PLATFORM, [channel])
        if scope is None:
            log.warning("Slack channel %s is not mapped to a tenant in the manifest", channel)
            await shown
            await self._post(channel, thread, notice_message(UNMAPPED_CHANNEL_TEXT))
            return
        message = incoming_message(
            event, tenant=scope.tenant, bot_user_id=context.bot_user_id or self._bot_user_id
        )
        if not message.text:
            await shown
            await self._post(channel, thread, notice_message(EMPTY_QUESTION_TEXT))
            return
        if self.streaming and self._stream_supported:
            team = body.get("team_id") or event.get("team")
            answer, stream_ts = await self._stream(message, scope, channel, thread, team, message.user, shown)
        else:
            answer, stream_ts = await self._collect(message, scope), None
        messages = answer_messages(answer)
        await shown
        if stream_ts is not None:
            first = messages.pop(0)
            await self.client.chat_update(channel=channel, ts=stream_ts, text=first.text, blocks=first.blocks)
        for i, reply in enumerate(messages):
            try:
                await self._post(channel, thread, reply)
            except SlackApiError as exc:
                if await self._queue(event_id, channel, thread, messages[i:], exc):
                    return
                raise

    async def _queue(
        self, event_id: str, channel: str, thread: str, rest: Sequence[SlackMessage], exc: SlackApiError
    ) -> bool:
        """Keep the replies Slack did not take (an outage past the retries) for redelivery."""
        status = exc.response.status_code
        if self.outbox is None or not _outage(exc):
            return False
        queued = [{"text": m.text, "blocks": m.blocks} for m in rest]
        await self._state(self.outbox.add, PLATFORM, event_id, channel, thread, queued)
        log.warning(
            "Slack %s failed for event %s in %s: %s (HTTP %s); the answer is queued and will be posted "
            "when Slack takes it",
            method_of(exc.response.api_url), event_id, channel, exc.response.get("error"), status,
        )
        return True

    async def _post_queued(self, entry: Queued, message: Any) -> None:
        await self._post(entry.channel, entry.thread, SlackMessage(message["text"], message["blocks"]))

    async def _collect(self, message: IncomingMessage, scope: Scope) -> Answer:
        """The whole answer at once (streaming off): the engine asks the LLM without streaming."""
        return await self.engine.answer(message, collections=scope.searchable)

    async def _stream(
        self, message: IncomingMessage, scope: Scope, channel: str, thread: str,
        team: str | None, user: str, shown: asyncio.Future[Any],
    ) -> tuple[Answer, str | None]:
        """Stream LLM deltas with chat.startStream/appendStream/stopStream; returns the stream's ts.

        The streamed message is replaced by the verified, rendered answer afterwards (chat.update).
        """
        streamer: AsyncChatStream | None = None
        broken = False
        final: Answer | None = None
        async for item in self.engine.stream(message, collections=scope.searchable):
            if isinstance(item, Answer):
                final = item
                continue
            if broken:
                continue
            try:
                if streamer is None:
                    await shown
                    streamer = await self.client.chat_stream(
                        channel=channel, thread_ts=thread, recipient_team_id=team, recipient_user_id=user,
                        buffer_size=self.stream_buffer,
                    )
                await streamer.append(markdown_text=item)
            except SlackApiError as exc:
                broken = True
                self._note_stream_error(exc)
        if final is None:
            raise RuntimeError("the answer engine finished without an Answer")
        if streamer is None:
            return final, None
        if not broken:
            try:
                await streamer.stop()
            except SlackApiError as exc:
                self._note_stream_error(exc)
        return final, streamer.ts

    def _note_stream_error(self, exc: SlackApiError) -> None:
        error = exc.response.get("error")
        if error in _STREAM_UNSUPPORTED:
            self._stream_supported = False
            log.warning("Slack streaming unavailable (%s): answering with single messages", error)
        else:
            log.warning("Slack streaming failed (%s): the final answer replaces the stream", error)

    # -- Slack calls -------------------------------------------------------------------------
    async def _post(
        self, channel: str, thread: str | None, message: SlackMessage, *, metadata: Payload | None = None
    ) -> None:
        extra: Payload = {"metadata": metadata} if metadata else {}
        await self.client.chat_postMessage(
            channel=channel, thread_ts=thread, text=message.text, blocks=message.blocks,
            unfurl_links=False, unfurl_media=False, **extra,
        )

    async def _post_safely(self, channel: str, thread: str | None, message: SlackMessage) -> None:
        try:
            await self._post(channel, thread, message)
        except SlackApiError as exc:
            log.error(
                "posting to Slack channel %s failed: %s (HTTP %s)",
                channel, exc.response.get("error"), exc.response.status_code,
            )
        except Exception:
            log.exception("posting to Slack channel %s failed", channel)

    async def _show_progress(self, event: Mapping[str, Any], channel: str, thread: str) -> _Progress | None:
        if event.get("channel_type") == "im":
            try:
                await self.client.assistant_threads_setStatus(
                    channel_id=channel, thread_ts=thread, status=PROGRESS_STATUS
                )
                return _Progress("status", channel, thread)
            except SlackApiError as exc:
                log.debug("assistant status unavailable (%s): using a reaction", exc.response.get("error"))
        try:
            ts = str(event["ts"])
            await self.client.reactions_add(channel=channel, timestamp=ts, name=PROGRESS_REACTION)
            return _Progress("reaction", channel, ts)
        except SlackApiError as exc:
            log.warning("progress reaction failed: %s", exc.response.get("error"))
            return None
        except Exception:  # it runs beside the answer (a task): a failure here must not end it
            log.warning("progress reaction failed", exc_info=True)
            return None

    async def _clear_progress(self, progress: _Progress | None) -> None:
        if progress is None:
            return
        try:
            if progress.kind == "reaction":
                await self.client.reactions_remove(
                    channel=progress.channel, timestamp=progress.ts, name=PROGRESS_REACTION
                )
            else:  # posting a reply clears the status; clear it explicitly in case nothing was posted
                await self.client.assistant_threads_setStatus(
                    channel_id=progress.channel, thread_ts=progress.ts, status=""
                )
        except Exception:
            log.warning("clearing the progress indicator failed", exc_info=True)


def _outage(exc: Exception) -> bool | None:
    """For the outbox: Slack down or throttling (kept for later), a refusal (not), or not Slack's answer."""
    if not isinstance(exc, SlackApiError):
        return None
    status = exc.response.status_code
    return status == 429 or status >= 500


def _api_error(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return f"{exc.response.get('error')} (HTTP {exc.response.status_code})"
    return str(exc)


def _describe_interrupted(entry: Interrupted) -> str:
    return f"event {entry.event_id} in {(entry.payload.get('event') or {}).get('channel')}"
