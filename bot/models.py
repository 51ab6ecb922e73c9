"""Neutral models shared by the core and every adapter (no platform SDK types here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ConversationRef:
    """Where a message came from and where its answer goes."""

    platform: str  # "slack" | "teams" | "logo" | "console" | "cli"
    tenant: str
    channel: str
    thread: str | None = None  # thread root (Slack thread_ts, Teams reply chain, None for LoGo)
    message: str | None = None  # the message being answered

    @property
    def thread_key(self) -> str:
        """Stable key for thread memory."""
        return f"{self.platform}:{self.tenant}:{self.channel}:{self.thread or self.message or ''}"


@dataclass(frozen=True)
class IncomingMessage:
    ref: ConversationRef
    user: str  # platform user id (hashed before it is stored)
    text: str  # mention markup already removed
    mentions: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """A numbered source handed to the LLM and to verification: one retrieved article."""

    n: int  # 1-based, as cited in the text: [1]
    doc_id: str
    article: str  # e-Gov Num ("238_4") or the section key
    title: str  # 地方自治法
    label: str  # 第二百三十八条の四
    caption: str
    url: str
    text: str
    sha256: str = ""
    kind: str = "law"
    score: float = 0.0  # the search's score for it: the extractive answer shows those close to the best
    # … or, where the search's second stage weighed it and the best, its probability over the best's.
    likelihood: float | None = None
    paragraph: int | None = None  # the paragraph (項) a question's explicit citation named, if any

    @property
    def citation_label(self) -> str:
        return f"{self.title} {self.label}".strip()


@dataclass(frozen=True)
class Citation:
    n: int
    doc_id: str
    article: str
    title: str  # "地方自治法 第二百三十八条の四" style label for display
    url: str
    quote: str  # the deciding phrase quoted from the source ("" when none)
    verified: bool


@dataclass(frozen=True)
class Usage:
    provider: str  # "none" | "anthropic" | "bedrock" | "vertex" | "openai_compatible"
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            provider=self.provider,
            model=self.model,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )


@dataclass(frozen=True)
class Answer:
    text: str  # Japanese, [n] markers refer to citations
    citations: tuple[Citation, ...]
    abstained: bool
    warnings: tuple[str, ...] = ()
    usage: Usage | None = None
    inquiry_draft: str | None = None  # 照会 draft offered when abstaining
    extractive: bool = False  # True when no LLM wrote it (search-result answer)
    audit_id: str | None = None  # the audit record this answer was logged as (feedback attaches here)
    inquiry_offer: str | None = None  # a 照会 the asker may send from the chat (bot.inquiry): its key


@dataclass(frozen=True)
class DigestItem:
    title: str
    url: str
    summary: str
    published: str  # ISO date
    source: str  # feed name


@dataclass(frozen=True)
class Digest:
    subscription: str
    items: tuple[DigestItem, ...]
