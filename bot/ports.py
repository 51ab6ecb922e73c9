"""The ports of the core: what it calls on the outside, and what the outside calls on it.

* ``Answerer``: the answer engine as adapters, the console and the CLI see it (``bot.engine``'s
  ``AnswerEngine`` and ``kairan.metrics``' ``MeteredEngine`` implement it).
* ``Channel`` (with ``Reply`` and ``Stream``): what a chat platform implements so that the question
  lifecycle in ``bot.flow`` (claim, answer, post, queue, resume, apologise) runs on it.
* ``InquiryPort``: what a chat platform offers the 照会 loop in ``bot.inquiry`` (post the 照会, say
  where it is, lay out its notices).
* ``Adapter``: a running chat platform connection, as ``kairan serve`` and the digest runner see it;
  ``ChecksDigests``, ``LimitsDigestItems`` and ``DedupesDigests`` are what some adapters can do
  besides (checked with ``isinstance``, never by probing attributes).

Adapters depend on the core, never the reverse.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from bot.models import Answer, ConversationRef, Digest, IncomingMessage

if TYPE_CHECKING:
    from bot.flow.question import Question
    from bot.inquiry.text import InquiryPost


class Answerer(Protocol):
    """Answers a question from the collections it may search (None: every collection)."""

    async def answer(self, message: IncomingMessage, *, collections: Sequence[str] | None = None) -> Answer:
        """The final, verified answer (the LLM, if any, is asked without streaming)."""

    def stream(
        self, message: IncomingMessage, *, collections: Sequence[str] | None = None
    ) -> AsyncIterator[str | Answer]:
        """Text deltas while an LLM writes (when it streams), then the final, verified answer."""


# -- chat platforms: the question lifecycle's side ----------------------------------------------

Rendered = Any  # one message as its platform takes it, JSON-able: it may wait in the outbox


class Failure(enum.Enum):
    """What a platform's error means for the reply being posted."""

    OUTAGE = "outage"  # the platform is down or throttling past the retries: keep the reply for later
    REFUSED = "refused"  # the platform rejected this message: another one (the apology) may get through
    BUG = "bug"  # not the platform's answer: the traceback goes to the log


class Stream(Protocol):
    """An answer that grows in place while the LLM writes (Slack's chat stream, Teams' streaming)."""

    async def push(self, delta: str) -> None:
        """Show more of the answer (a platform error here ends the streaming, not the answer)."""

    async def finish(self, message: Rendered) -> bool:
        """Replace what was streamed with ``message``; False when nothing was streamed (post it)."""


class Reply(Protocol):
    """One question's conversation, as its platform lets the bot answer in it."""

    def render(self, reply: Answer | str) -> list[Rendered]:
        """The messages for an answer, or for one of ``bot.wording``'s texts."""

    def progress(self) -> AbstractAsyncContextManager[None]:
        """Shown while the question is answered and its answer posted (a reaction, a typing indicator)."""

    def stream(self) -> Stream | None:
        """A stream for this question's answer; None: the answer is posted whole."""

    async def post(self, message: Rendered) -> None:
        """Post one message in the conversation (raises the platform's error)."""


ReplyWork = Callable[[Reply], Awaitable[None]]


class Channel(Protocol):
    """A chat platform as the question lifecycle needs it: a few verbs, no knowledge of questions' fate."""

    platform: str  # "slack": the key of its rows in the event ledger, the in-flight table and the outbox
    label: str  # "Slack": how log lines name it

    async def reply_to(self, question: Question, work: ReplyWork) -> None:
        """Run ``work`` with a ``Reply`` in ``question``'s conversation (Teams: inside a turn)."""

    async def post(self, channel: str, thread: str | None, message: Rendered) -> None:
        """Post one rendered message proactively (what the outbox kept); raises the platform's error."""

    def classify(self, error: BaseException) -> Failure:
        """Outage, refusal or bug."""

    def explain(self, error: BaseException) -> str:
        """The error as one log phrase, e.g. "Slack chat.postMessage failed: ratelimited (HTTP 429)"."""

    def describe(self, key: str, channel: str) -> str:
        """How log lines name a question by its event key and conversation, e.g. "message 12 in talk 3"."""


# -- chat platforms: the 照会 loop's side -----------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """A message a platform posted for the 照会 loop: its id (the thread root) and a link to it."""

    message: str
    link: str | None = None


class InquiryPort(Protocol):
    """What a chat platform offers the 照会 loop (``bot.inquiry``) besides its ``Channel``.

    The loop posts the 照会 into the destination (``publish``), tells the asker in their thread and the
    responder in the 照会's thread (``render`` + ``channel.post``); the platform's adapter hands it the
    asker's confirmations and the responders' replies, edits and deletions.
    """

    threaded: bool  # replies form a thread (Slack, Teams); False: the responder names the 照会 (LoGo)

    @property
    def channel(self) -> Channel:
        """The platform's channel: posts in a conversation, and what its errors mean."""

    def ready(self) -> bool:
        """Connected: posting may be tried now."""

    def render(self, reply: Answer | str, *, mention: tuple[str, str] | None = None) -> list[Rendered]:
        """An answer or a notice as the platform's messages; ``mention``: (user id, name) to address."""

    def render_inquiry(self, post: InquiryPost) -> list[Rendered]:
        """The 照会 as posted in the destination (the first message is the one replies refer to)."""

    async def publish(self, channel: str, messages: Sequence[Rendered], *, marker: str) -> Published:
        """Post ``messages`` as new top-level messages; the first one's id and link (raises on failure)."""

    async def find_published(self, channel: str, marker: str) -> Published | None:
        """The message an interrupted ``publish`` with ``marker`` left, if the platform can tell."""

    def link(self, channel: str, thread: str | None, message: str | None) -> str | None:
        """A link to a message (or a thread, or the conversation) that staff can open, if there is one."""


# -- chat platforms: the running connection ------------------------------------------------------


class Adapter(Protocol):
    """A chat platform connection: receives questions, posts answers and digests in its own idiom."""

    name: str  # "slack" | "teams" | "logo"

    async def start(self) -> None:
        """Connect (Socket Mode, WebSocket session, …); return once ready."""

    async def stop(self) -> None:
        """Disconnect and finish the answers in flight."""

    def connected(self) -> bool:
        """For /readyz: True while the platform connection is usable."""

    async def send(self, ref: ConversationRef, reply: Answer | Digest) -> None:
        """Post an answer or a digest to a conversation (proactively, for digests)."""


@runtime_checkable
class ChecksDigests(Protocol):
    """An adapter that can look in a conversation for a digest it posted (by ``digest_marker``)."""

    async def was_posted(self, ref: ConversationRef, marker: str) -> bool: ...


@runtime_checkable
class LimitsDigestItems(Protocol):
    """An adapter that shows at most ``max_digest_items`` items in one post (the rest wait)."""

    max_digest_items: int


@runtime_checkable
class DedupesDigests(Protocol):
    """An adapter that drops a digest whose marker it has posted (so a doubtful one may be sent again)."""

    honours_digest_marker: Literal[True]
