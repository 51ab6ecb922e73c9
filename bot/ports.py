"""The ports of the core: what it calls on the outside, and what the outside calls on it.

``Adapter`` is a chat platform connection (digests are sent through it); ``Answerer`` is the
answer engine as adapters, the console and the CLI see it (``bot.engine.AnswerEngine`` and the
metered engine in ``kairan.metrics`` implement it). Adapters depend on the core, never the reverse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from bot.models import Answer, ConversationRef, Digest, IncomingMessage


class Adapter(Protocol):
    """A chat platform connection: receives questions, posts answers and digests in its own idiom."""

    name: str  # "slack" | "teams" | "logo" | "console"

    async def start(self) -> None:
        """Connect (Socket Mode, WebSocket session, …) or register HTTP routes; return once ready."""

    async def stop(self) -> None:
        """Disconnect and finish in-flight work."""

    def connected(self) -> bool:
        """For /readyz: True while the platform connection is usable."""

    async def send(self, ref: ConversationRef, reply: Answer | Digest) -> None:
        """Post an answer or a digest to a conversation (proactively, for digests)."""


class Answerer(Protocol):
    """Answers a question from the collections it may search (None: every collection)."""

    async def answer(self, message: IncomingMessage, *, collections: Sequence[str] | None = None) -> Answer:
        """The final, verified answer."""

    def stream(
        self, message: IncomingMessage, *, collections: Sequence[str] | None = None
    ) -> AsyncIterator[str | Answer]:
        """Text deltas while an LLM writes (when it streams), then the final, verified answer."""
