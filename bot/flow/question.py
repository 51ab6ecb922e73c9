"""A question as the lifecycle handles it, and as it is kept in flight to be answered again. Pure.

A platform turns its inbound event into a ``Question``: the neutral message (its tenant resolved by
``manifest.scope``), what the conversation may search, and the few extras the platform needs to
reply there (``context``, JSON-able). That is also what ``bot.state.inflight`` keeps while the
question is answered, so a replica can answer it after its bot died; the raw event is not kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.models import ConversationRef, IncomingMessage
from manifest.scope import Scope

NO_TENANT = ""  # the tenant of a message whose conversation the manifest gives nothing (never answered)


class QuestionPayloadError(ValueError):
    """A question in flight that cannot be read back (written by an older version, say)."""


@dataclass(frozen=True)
class Question:
    key: str  # the platform's id of the event: claimed once in the event ledger, the outbox's key too
    message: IncomingMessage
    scope: Scope | None  # what it may search; None: not answered (the not-configured notice is posted)
    context: Mapping[str, Any] = field(default_factory=dict)  # what the platform needs to reply (JSON-able)
    live: object | None = field(default=None, compare=False)  # the platform's handle on the live event;
    # a question answered again after its bot died has none (Teams then posts proactively)

    def to_payload(self) -> dict[str, Any]:
        """What is kept in flight (the message's ``raw`` platform event is not)."""
        ref, scope = self.message.ref, self.scope
        return {
            "ref": {"platform": ref.platform, "tenant": ref.tenant, "channel": ref.channel,
                    "thread": ref.thread, "message": ref.message},
            "user": self.message.user,
            "text": self.message.text,
            "mentions": list(self.message.mentions),
            "scope": None if scope is None else {"tenant": scope.tenant, "collections": scope.searchable},
            "context": dict(self.context),
        }

    @classmethod
    def from_payload(cls, key: str, payload: Mapping[str, Any]) -> Question:
        """Raises QuestionPayloadError when a field is missing or of another type."""
        try:
            ref = ConversationRef(**payload["ref"])
            scope = payload["scope"]
            collections = None if scope is None else scope["collections"]
            return cls(
                key=key,
                message=IncomingMessage(
                    ref=ref, user=str(payload["user"]), text=str(payload["text"]),
                    mentions=tuple(str(m) for m in payload["mentions"]),
                ),
                scope=None if scope is None else Scope(
                    str(scope["tenant"]), None if collections is None else tuple(str(c) for c in collections)
                ),
                context=dict(payload["context"]),
            )
        except (KeyError, TypeError) as exc:
            raise QuestionPayloadError(f"question {key} in flight cannot be read: {exc!r}") from None
