"""LLM providers behind one small interface (see ``bot.llm.base``)."""

from bot.llm.base import (
    ChatTurn,
    Completion,
    LLMError,
    LLMProvider,
    LLMRejected,
    LLMTimeout,
    LLMUnavailable,
    Prompt,
    StreamDone,
    StreamEvent,
    TextDelta,
)

__all__ = [
    "ChatTurn",
    "Completion",
    "LLMError",
    "LLMProvider",
    "LLMRejected",
    "LLMTimeout",
    "LLMUnavailable",
    "Prompt",
    "StreamDone",
    "StreamEvent",
    "TextDelta",
]
