"""The port every chat adapter implements (DESIGN.md, Boundaries).

It lives in the core because the core calls it (digests are sent through it); adapters depend on
the core, never the reverse. ``adapters.base`` re-exports it for the adapter packages.
"""

from __future__ import annotations

from typing import Protocol

from bot.models import Answer, ConversationRef, Digest


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
