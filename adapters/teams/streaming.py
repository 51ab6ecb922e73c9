"""Teams streaming for personal chats: informative update, cumulative text chunks, final message.

This speaks the documented Teams streaming protocol with the SDK's own pieces (``StreamInfo``
entities sent through ``TurnContext.send_activity``) instead of the SDK's ``StreamingResponse``:
that class ends the stream with the text it accumulated from the chunks, while kairan's final
message must be the *verified* answer (citations checked, renumbered, a note appended, or an
extractive fallback that shares no text with what was streamed), with citation abstracts of at
most 160 characters. Sequencing and the one-update-per-second pacing follow the protocol.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core import TurnContext

from adapters.teams.retry import send_with_retry


class TeamsStream:
    """One streamed reply: ``inform()``, any number of ``push()``, then ``finish()``."""

    def __init__(
        self, context: TurnContext, *, interval: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._context = context
        self._interval = interval
        self._clock = clock
        self._sequence = 0
        self._stream_id: str | None = None
        self._text = ""
        self._sent_text = ""
        self._last_sent = float("-inf")
        self.finished = False

    @property
    def stream_id(self) -> str | None:
        return self._stream_id

    @property
    def started(self) -> bool:
        return self._stream_id is not None

    async def inform(self, text: str) -> None:
        """An informative update (「調べています…」) shown before any answer text."""
        await self._send_update("informative", text)

    async def push(self, delta: str) -> None:
        """Append answer text; sent as a cumulative chunk at most once per interval."""
        self._text += delta
        if self._clock() - self._last_sent >= self._interval:
            await self.flush()

    async def flush(self) -> None:
        if self._text and self._text != self._sent_text:
            await self._send_update("streaming", self._text)
            self._sent_text = self._text

    async def finish(self, final: dict[str, Any]) -> str | None:
        """End the stream with ``final`` (a rendered message activity); returns the message id."""
        if self.finished:
            raise RuntimeError("the Teams stream has already ended")
        self.finished = True
        activity = dict(final)
        if self._stream_id is not None:
            info = {"type": "streaminfo", "streamId": self._stream_id, "streamType": "final"}
            activity["entities"] = [*activity.get("entities", []), info]
        response = await send_with_retry(self._context, Activity.model_validate(activity))
        return self._stream_id or (response.id if response else None)

    async def _send_update(self, kind: str, text: str) -> None:
        if self.finished:
            raise RuntimeError("the Teams stream has already ended")
        self._sequence += 1
        info: dict[str, Any] = {"type": "streaminfo", "streamType": kind, "streamSequence": self._sequence}
        if self._stream_id is not None:
            info["streamId"] = self._stream_id
        activity = Activity.model_validate({"type": "typing", "text": text, "entities": [info]})
        response = await send_with_retry(self._context, activity)
        self._last_sent = self._clock()
        if self._stream_id is None:
            if response is None or not response.id:
                raise RuntimeError("Teams did not return a stream id for the first streaming update")
            self._stream_id = response.id
