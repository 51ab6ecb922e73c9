"""Slack as the question lifecycle sees it (``bot.ports.Channel``): Block Kit replies in the thread.

A reply goes into the question's thread. While it is answered a progress indicator shows: the
assistant status ("調べています…") in a DM, else a reaction on the question; it goes out beside
the answer (its round trip stays off the answer's path), every post waits for it, and it is cleared
after the last post. With streaming on, the answer grows in a chat stream (chat.startStream /
appendStream / stopStream) that the verified, rendered answer then replaces (chat.update); a
workspace that cannot stream switches it off. Slack refusing a call past the client's retries with
429/5xx, or not answering, is an outage; any other Slack error is a refusal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import PLATFORM
from adapters.slack.render import SlackMessage, answer_messages, apology_message, notice_message
from adapters.slack.retry import method_of
from bot import wording
from bot.flow.question import Question
from bot.models import Answer
from bot.ports import Failure, Rendered, ReplyWork, Stream

log = logging.getLogger(__name__)

PROGRESS_REACTION = "hourglass_flowing_sand"
# Errors meaning "this workspace or app cannot stream": streaming is then switched off.
STREAM_UNSUPPORTED = frozenset({"unknown_method", "not_allowed", "missing_scope", "not_allowed_token_type",
                                "feature_not_enabled", "method_deprecated"})


def message_dict(message: SlackMessage) -> dict[str, Any]:
    """A rendered message as it is posted and kept in the outbox."""
    return {"text": message.text, "blocks": message.blocks}


class SlackChannel:
    platform = PLATFORM
    label = "Slack"

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        streaming: bool = False,
        stream_buffer: int = 256,
    ) -> None:
        self.client = client
        self.streaming = streaming
        self.stream_buffer = stream_buffer
        self.stream_supported = True

    async def reply_to(self, question: Question, work: ReplyWork) -> None:
        await work(SlackReply(self, question))

    async def post(self, channel: str, thread: str | None, message: Rendered) -> None:
        await self.post_message(channel, thread, SlackMessage(message["text"], message["blocks"]))

    async def post_message(
        self,
        channel: str,
        thread: str | None,
        message: SlackMessage,
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        extra: dict[str, Any] = {"metadata": dict(metadata)} if metadata else {}
        await self.client.chat_postMessage(
            channel=channel, thread_ts=thread, text=message.text, blocks=message.blocks,
            unfurl_links=False, unfurl_media=False, **extra,
        )

    def classify(self, error: BaseException) -> Failure:
        if isinstance(error, SlackApiError):
            status = error.response.status_code
            return Failure.OUTAGE if status == 429 or status >= 500 else Failure.REFUSED
        if isinstance(error, aiohttp.ClientConnectionError | TimeoutError):
            return Failure.OUTAGE  # Slack did not answer, even after the client's retry
        return Failure.BUG

    def explain(self, error: BaseException) -> str:
        if isinstance(error, SlackApiError):
            response = error.response
            return (f"Slack {method_of(response.api_url)} failed: {response.get('error')} "
                    f"(HTTP {response.status_code})")
        return f"Slack could not be reached: {type(error).__name__}"

    def describe(self, key: str, channel: str) -> str:
        return f"event {key} in {channel}"

    def note_stream_error(self, exc: SlackApiError) -> None:
        error = exc.response.get("error")
        if error in STREAM_UNSUPPORTED:
            self.stream_supported = False
            log.warning("Slack streaming unavailable (%s): answering with single messages", error)
        else:
            log.warning("Slack streaming failed (%s): the final answer replaces the stream", error)


@dataclass(frozen=True)
class _Progress:
    kind: Literal["reaction", "status"]
    channel: str
    ts: str  # the reacted message (reaction) or the thread (status)


@dataclass
class SlackReply:
    channel: SlackChannel
    question: Question
    _shown: asyncio.Task[_Progress | None] | None = field(default=None, init=False)

    def render(self, reply: Answer | str) -> list[Rendered]:
        if isinstance(reply, Answer):
            return [message_dict(m) for m in answer_messages(reply)]
        message = apology_message() if reply == wording.APOLOGY else notice_message(reply)
        return [message_dict(message)]

    @asynccontextmanager
    async def progress(self) -> AsyncIterator[None]:
        self._shown = asyncio.create_task(self._show_progress())
        try:
            yield
        finally:
            await self._clear_progress(await self._shown)

    def stream(self) -> Stream | None:
        if self.channel.streaming and self.channel.stream_supported:
            return SlackStream(self)
        return None

    async def post(self, message: Rendered) -> None:
        await self.progress_shown()
        ref = self.question.message.ref
        await self.channel.post(ref.channel, ref.thread, message)

    async def progress_shown(self) -> None:
        """Posts go out after the progress indicator (it was sent first, beside the answer)."""
        if self._shown is not None:
            await self._shown

    async def _show_progress(self) -> _Progress | None:
        client, ref = self.channel.client, self.question.message.ref
        if self.question.context.get("im") and ref.thread:
            try:
                await client.assistant_threads_setStatus(
                    channel_id=ref.channel, thread_ts=ref.thread, status=wording.WORKING
                )
                return _Progress("status", ref.channel, ref.thread)
            except SlackApiError as exc:
                log.debug("assistant status unavailable (%s): using a reaction", exc.response.get("error"))
        try:
            ts = str(ref.message)
            await client.reactions_add(channel=ref.channel, timestamp=ts, name=PROGRESS_REACTION)
            return _Progress("reaction", ref.channel, ts)
        except SlackApiError as exc:
            log.warning("progress reaction failed: %s", exc.response.get("error"))
            return None
        except Exception:  # it runs beside the answer (a task): a failure here must not end it
            log.warning("progress reaction failed", exc_info=True)
            return None

    async def _clear_progress(self, progress: _Progress | None) -> None:
        if progress is None:
            return
        client, where, ts = self.channel.client, progress.channel, progress.ts
        try:
            if progress.kind == "reaction":
                await client.reactions_remove(channel=where, timestamp=ts, name=PROGRESS_REACTION)
            else:  # posting a reply clears the status; clear it explicitly in case nothing was posted
                await client.assistant_threads_setStatus(channel_id=where, thread_ts=ts, status="")
        except Exception:
            log.warning("clearing the progress indicator failed", exc_info=True)


class SlackStream:
    """The answer streamed into the thread; a Slack error while streaming only ends the streaming."""

    def __init__(self, reply: SlackReply) -> None:
        self.reply = reply
        self._streamer: AsyncChatStream | None = None
        self._broken = False

    async def push(self, delta: str) -> None:
        if self._broken:
            return
        channel, question = self.reply.channel, self.reply.question
        try:
            if self._streamer is None:
                await self.reply.progress_shown()
                ref = question.message.ref
                self._streamer = await channel.client.chat_stream(
                    channel=ref.channel, thread_ts=ref.thread or str(ref.message),
                    recipient_team_id=question.context.get("team"), recipient_user_id=question.message.user,
                    buffer_size=channel.stream_buffer,
                )
            await self._streamer.append(markdown_text=delta)
        except SlackApiError as exc:
            self._broken = True
            channel.note_stream_error(exc)

    async def finish(self, message: Rendered) -> bool:
        """Stop the stream and put ``message`` in its place (chat.update)."""
        streamer, self._streamer = self._streamer, None
        if streamer is None or streamer.ts is None:
            return False
        if not self._broken:
            try:
                await streamer.stop()
            except SlackApiError as exc:
                self.reply.channel.note_stream_error(exc)
        await self.reply.channel.client.chat_update(
            channel=self.reply.question.message.ref.channel, ts=streamer.ts,
            text=message["text"], blocks=message["blocks"],
        )
        return True
