"""A toy chat platform for the 照会 loop: a channel and an ``InquiryPort`` over lists of posts.

    port = ToyPort("slack")                 # threaded, like Slack and Teams
    logo = ToyPort("logo", threaded=False)  # the responder names the 照会, like LoGo
    port.down = True                        # an outage: posts raise, the loop retries later
    port.reject = 1                         # the next post is refused

Posts are kept as ``ToyPost(channel, thread, id, text)``; ``publish`` returns the first post's id.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bot.flow.question import Question
from bot.inquiry.text import InquiryPost
from bot.models import Answer
from bot.ports import Failure, Published, Rendered, ReplyWork, Stream


class Down(Exception):
    """The toy platform is unreachable."""


class Rejected(Exception):
    """The toy platform refused one message."""


@dataclass(frozen=True)
class ToyPost:
    channel: str
    thread: str | None
    id: str
    text: str


_IDS = itertools.count(1)


@dataclass
class ToyChannel:
    platform: str
    label: str = "Toy"
    posts: list[ToyPost] = field(default_factory=list)
    down: bool = False
    reject: int = 0

    async def reply_to(self, question: Question, work: ReplyWork) -> None:
        await work(ToyReply(self, question))

    async def post(self, channel: str, thread: str | None, message: Rendered) -> None:
        self.add(channel, thread, str(message))

    def add(self, channel: str, thread: str | None, text: str) -> ToyPost:
        if self.down:
            raise Down("connection refused")
        if self.reject:
            self.reject -= 1
            raise Rejected("message refused")
        post = ToyPost(channel, thread, str(next(_IDS)), text)
        self.posts.append(post)
        return post

    def classify(self, error: BaseException) -> Failure:
        if isinstance(error, Down):
            return Failure.OUTAGE
        return Failure.REFUSED if isinstance(error, Rejected) else Failure.BUG

    def explain(self, error: BaseException) -> str:
        return f"Toy: {error}"

    def describe(self, key: str, channel: str) -> str:
        return f"message {key} in {channel}"

    def texts(self, channel: str | None = None, thread: str | None = None) -> list[str]:
        return [p.text for p in self.posts if (channel is None or p.channel == channel)
                and (thread is None or p.thread == thread)]


@dataclass
class ToyReply:
    channel: ToyChannel
    question: Question

    def render(self, reply: Answer | str) -> list[Rendered]:
        if isinstance(reply, str):
            return [reply]
        offer = f"\n[照会する:{reply.inquiry_offer}]" if reply.inquiry_offer else ""
        return [reply.text + offer]

    @asynccontextmanager
    async def progress(self) -> AsyncIterator[None]:
        yield

    def stream(self) -> Stream | None:
        return None

    async def post(self, message: Rendered) -> None:
        ref = self.question.message.ref
        await self.channel.post(ref.channel, ref.thread, message)


@dataclass
class ToyPort:
    """The 照会 loop's side of the toy platform."""

    platform: str
    threaded: bool = True
    connected: bool = True
    channel: ToyChannel = field(init=False)
    published: list[ToyPost] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.channel = ToyChannel(self.platform)

    def ready(self) -> bool:
        return self.connected

    def render(self, reply: Answer | str, *, mention: tuple[str, str] | None = None) -> list[Rendered]:
        text = reply if isinstance(reply, str) else "\n".join(
            [reply.text, *(f"[{c.n}] {c.title} {c.url}".rstrip() for c in reply.citations)]
        )
        return [f"@{mention[1]} {text}" if mention else text]

    def render_inquiry(self, post: InquiryPost) -> list[Rendered]:
        return [post.plain(threaded=self.threaded)]

    async def publish(self, channel: str, messages: Sequence[Rendered], *, marker: str) -> Published:
        first: ToyPost | None = None
        for message in messages:
            text = f"{message}\n<{marker}>" if first is None else str(message)
            post = self.channel.add(channel, None, text)
            first = first or post
        assert first is not None
        self.published.append(first)
        return Published(first.id, self.link(channel, None, first.id))

    async def find_published(self, channel: str, marker: str) -> Published | None:
        for post in self.channel.posts:
            if post.channel == channel and post.text.endswith(f"<{marker}>"):
                return Published(post.id, self.link(channel, None, post.id))
        return None

    def link(self, channel: str, thread: str | None, message: str | None) -> str | None:
        return f"https://toy.example/{self.platform}/{channel}/{message or thread or ''}"
