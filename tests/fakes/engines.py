"""Stand-ins for bot.engine.AnswerEngine, for failure paths only (real answers use the real engine)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from bot.llm.base import Completion, Prompt, StreamDone, StreamEvent, TextDelta
from bot.models import Answer, IncomingMessage, Usage


class FailingEngine:
    """Raises ``error`` while answering, after ``delay`` seconds (optionally after some text deltas)."""

    def __init__(self, error: Exception, *, delay: float = 0.0, deltas: Sequence[str] = ()) -> None:
        self.error = error
        self.delay = delay
        self.deltas = tuple(deltas)
        self.questions: list[IncomingMessage] = []

    async def stream(
        self, message: IncomingMessage, *, collections: Sequence[str] | None = None
    ) -> AsyncIterator[str | Answer]:
        self.questions.append(message)
        for delta in self.deltas:
            yield delta
        await asyncio.sleep(self.delay)
        raise self.error

    async def answer(self, message: IncomingMessage, *, collections: Sequence[str] | None = None) -> Answer:
        async for _ in self.stream(message, collections=collections):
            pass
        raise AssertionError("unreachable")


class HangingEngine:
    """Never finishes an answer (a bot stuck on the LLM, then stopped or killed); ``started`` is set
    when the first question arrives."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.questions: list[IncomingMessage] = []

    async def answer(self, message: IncomingMessage, *, collections: Sequence[str] | None = None) -> Answer:
        self.questions.append(message)
        self.started.set()
        await asyncio.Future()  # never done
        raise AssertionError("unreachable")

    async def stream(
        self, message: IncomingMessage, *, collections: Sequence[str] | None = None
    ) -> AsyncIterator[str | Answer]:
        yield await self.answer(message, collections=collections)


class FixedAnswerEngine:
    """Returns the same ``answer`` to every question (long-answer and rendering paths)."""

    def __init__(self, answer: Answer) -> None:
        self.fixed = answer
        self.questions: list[IncomingMessage] = []
        self.collections: list[list[str] | None] = []

    async def answer(self, message: IncomingMessage, *, collections: Sequence[str] | None = None) -> Answer:
        self.questions.append(message)
        self.collections.append(None if collections is None else list(collections))
        return self.fixed

    async def stream(
        self, message: IncomingMessage, *, collections: Sequence[str] | None = None
    ) -> AsyncIterator[str | Answer]:
        yield await self.answer(message, collections=collections)


class ScriptedProvider:
    """An in-process LLMProvider: answers ``text`` after ``latency`` seconds, streamed in ``pieces``."""

    name = "openai_compatible"
    model = "scripted"

    def __init__(self, text: str, *, latency: float = 0.0, pieces: int = 4) -> None:
        self.text = text
        self.latency = latency
        self.pieces = max(1, pieces)
        self.prompts: list[Prompt] = []

    def _completion(self) -> Completion:
        usage = Usage(provider=self.name, model=self.model, input_tokens=100, output_tokens=len(self.text))
        return Completion(text=self.text, usage=usage, stop_reason="end_turn")

    async def complete(self, prompt: Prompt) -> Completion:
        self.prompts.append(prompt)
        await asyncio.sleep(self.latency)
        return self._completion()

    async def stream(self, prompt: Prompt) -> AsyncIterator[StreamEvent]:
        self.prompts.append(prompt)
        size = -(-len(self.text) // self.pieces)
        chunks = [self.text[i : i + size] for i in range(0, len(self.text), size)]
        for chunk in chunks:
            await asyncio.sleep(self.latency / len(chunks))
            yield TextDelta(chunk)
        yield StreamDone(self._completion())

    async def aclose(self) -> None:
        return None
