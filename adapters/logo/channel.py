"""LoGo Chat as the question lifecycle sees it (``bot.ports.Channel``): plain-text replies in a talk.

LoGo has no threads: a reply goes into the talk the question came from, opening with the asker's
mention, split into messages of at most ``max_message_length`` (UTF-16 units). The client already
retries a message (429/503 after ``retry_after``, a lost connection on the next session)
``send_attempts`` times; still failing with ``ConnectionLost`` or a retryable ``RpcError`` is an
outage (the lifecycle keeps the rest in the outbox, posted while the client is connected again);
any other RPC error is a refusal.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass

from adapters.logo import PLATFORM
from adapters.logo.client import ConnectionLost, LogoClient, LogoError, RpcError
from adapters.logo.render import mention_markup, reply_chunks, reply_text
from bot.flow.question import Question
from bot.models import Answer
from bot.ports import Failure, Rendered, ReplyWork, Stream


def is_outage(exc: BaseException) -> bool | None:
    """True: the server was unreachable or busy; False: it rejected the message; None: not LoGo's."""
    if isinstance(exc, ConnectionLost):
        return True
    if isinstance(exc, RpcError):
        return exc.retryable
    return False if isinstance(exc, LogoError) else None


class LogoChannel:
    platform = PLATFORM
    label = "LoGo"

    def __init__(self, client: LogoClient, *, max_message_length: int = 1024) -> None:
        self.client = client
        self.max_message_length = max_message_length

    def chunks(self, body: str, *, mention: str | None = None) -> list[str]:
        return reply_chunks(body, limit=self.max_message_length, mention=mention)

    async def reply_to(self, question: Question, work: ReplyWork) -> None:
        # 既読: the bot has taken the question. direct-js marks every message read; the bot only those
        # it answers, as a read mark on group chatter it ignores would say it took that too.
        self.client.mark_read(int(question.message.ref.channel), int(question.key))
        await work(LogoReply(self, question))

    async def post(self, channel: str, thread: str | None, message: Rendered) -> None:
        await self.client.send_text(int(channel), str(message))

    def classify(self, error: BaseException) -> Failure:
        outage = is_outage(error)
        return Failure.BUG if outage is None else Failure.OUTAGE if outage else Failure.REFUSED

    def explain(self, error: BaseException) -> str:
        return f"LoGo {error}" if isinstance(error, RpcError) else f"LoGo: {error or type(error).__name__}"

    def describe(self, key: str, channel: str) -> str:
        return f"message {key} in talk {channel}"


@dataclass
class LogoReply:
    channel: LogoChannel
    question: Question

    def render(self, reply: Answer | str) -> list[Rendered]:
        """The reply's messages, the first opening with the asker's mention."""
        name = str(self.question.context.get("name") or self.question.message.user)
        mention = mention_markup(self.question.message.user, name)
        body = reply if isinstance(reply, str) else reply_text(reply)
        return list(self.channel.chunks(body, mention=mention))

    def progress(self) -> AbstractAsyncContextManager[None]:
        return nullcontext()  # LoGo has no typing indicator a bot can show

    def stream(self) -> Stream | None:
        return None

    async def post(self, message: Rendered) -> None:
        await self.channel.post(self.question.message.ref.channel, None, message)
