"""The sentences of a chat message that say nothing of its question.

Staff write to the bot as to a colleague, and besides the courtesies (knowledge/pleasantries.py) a message
often carries a sentence of its own about the day or the asker: 「今日は窓口がすごく混んでいて…」,
「異動してきたばかりで…」, 「上司に聞かれたので確認したいです。」. Its words count in what the best hits must
cover, so a well-found article looks like a weak match and a good answer is withheld. What decides whether a
sentence is such an aside is the search's business (it shares no word with the best hits and names no
subject of any law); here are the pure parts: where the sentences are, which of them ask, and the message
without the asides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from knowledge.sentences import split_closed
from knowledge.tokenize import normalize_question

_ENDS = "。！？!?\n"
_ASKING_ENDS = ("？", "?")


def sentences(text: str) -> list[str]:
    """``text`` cut after each 。！？ or line break that is not inside brackets (a quoted 「…？」 stays
    in its sentence), each stripped; empty ones dropped."""
    done, rest = split_closed(text, _ENDS)
    return [*done, rest] if rest else done


def asking(parts: list[str]) -> frozenset[int]:
    """The places of the sentences that ask: those ending in a question mark, or else the last."""
    marked = frozenset(n for n, s in enumerate(parts) if s.endswith(_ASKING_ENDS))
    return marked or frozenset({len(parts) - 1} if parts else set())


def without_asides(text: str, is_aside: Callable[[str], bool]) -> tuple[str, tuple[str, ...]]:
    """``text`` without the sentences that do not ask and that ``is_aside`` says nothing of the question,
    one sentence per line; and those sentences. ``text`` itself and () when there are none."""
    parts = sentences(text)
    if len(parts) < 2:
        return text, ()
    asks = asking(parts)
    set_aside = [n for n, s in enumerate(parts) if n not in asks and is_aside(s)]
    if not set_aside:
        return text, ()
    kept = [s for n, s in enumerate(parts) if n not in set_aside]
    return "\n".join(kept), tuple(parts[n] for n in set_aside)


def without_sentences(text: str, asides: Sequence[str]) -> str:
    """``text`` as staff wrote it, without the sentences ``asides`` names (as ``without_asides`` found them
    in the normalised text), one sentence per line; ``text`` itself when none is among them."""
    if not asides:
        return text
    parts = sentences(text)
    kept = [s for s in parts if normalize_question(s) not in asides]
    return "\n".join(kept) if kept and len(kept) < len(parts) else text
