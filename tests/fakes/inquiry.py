"""A toy chat platform for the 照会 loop: a channel and an ``InquiryPort`` over lists of posts.

    port = ToyPort("slack")                 # threaded, like Slack and Teams
    logo = ToyPort("logo", threaded=False)  # the responder names the 照会, like LoGo
    port.down = True                        # an outage: posts raise, the loop retries later
    port.reject = 1                         # the next post is refused

Posts are kept as ``ToyPost(channel, thread, id, text)``; ``publish`` returns the first post's id.
The scenario every platform's test runs (tests/adapters/<platform>/test_inquiry.py) shares its
question, answer, knowledge base and manifest from here.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.flow.question import Question
from bot.inquiry.text import InquiryPost
from bot.models import Answer
from bot.ports import Failure, Published, Rendered, ReplyWork, Stream

if TYPE_CHECKING:
    from kairan.wiring import Runtime


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


# -- the scenario every platform runs: a knowledge base and a manifest with a 照会 destination -----------

SCENARIO_QUESTION = "職員の名札に旧姓を使ってよいですか"
SCENARIO_PARAPHRASE = "職員が旧姓を名札に使うことは認められますか"
SCENARIO_ANSWER = (
    "職員の名札には、本人の申出により旧姓を使用して差し支えありません。人事課に届け出てください。"
)
SCENARIO_CORRECTION = "職員の名札への旧姓の使用は、人事課に届け出たうえで認めます。"




def scenario_manifest(
    platforms: dict[str, Any], *, asked_in: tuple[str, str], destination: tuple[str, str],
    responders: list[str], tenant: str = "testcity",
) -> dict[str, Any]:
    """One tenant whose questions come from ``asked_in`` and whose inquiries go to ``destination``
    (法務担当), answered by ``responders``, kept in its Q&A collection."""
    platform, channel = asked_in
    dest_platform, dest_channel = destination
    return {
        "platforms": platforms,
        "knowledge": {"collections": [
            {"name": "laws", "kind": "law", "public": True},
            {"name": "testcity-qa", "kind": "qa", "owner": tenant},
        ]},
        "tenants": [{
            "id": tenant, "name": "テスト市", "collections": ["laws", "testcity-qa"],
            "channels": [{"platform": platform, "id": channel, "name": "総務課"}],
            "inquiries": {
                "destination": {"platform": dest_platform, "channel": dest_channel, "name": "法務担当"},
                "responders": {"users": responders},
                "collection": "testcity-qa",
            },
        }],
    }


def scenario_runtime(
    base_kb: Path, data: Path, platforms: dict[str, Any], *, asked_in: tuple[str, str],
    destination: tuple[str, str], responders: list[str], environ: dict[str, str] | None = None,
) -> Runtime:
    """The runtime ``kairan serve`` would build for the scenario, on a copy of ``base_kb`` at ``data``."""
    from kairan.wiring import KnowledgeConfig, build_runtime
    from manifest.schema import Manifest

    shutil.copytree(base_kb, data)
    manifest = Manifest.model_validate(scenario_manifest(
        platforms, asked_in=asked_in, destination=destination, responders=responders
    ))
    return build_runtime(KnowledgeConfig(manifest=manifest, data_dir=data), environ=environ or {})
