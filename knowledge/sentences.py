"""Where the sentences of a Japanese text end: at an end mark outside brackets.

（以下「庁舎等」という。） ends no sentence, nor does a quoted 「…？」. One pure function, shared by the
chat's asides (knowledge/asides.py), the extractive answer's statute sentences (bot/answer_text.py) and
the digest's opening sentences (bot/digest/summarise.py).
"""

from __future__ import annotations

OPENING = "「『（(【〔"
CLOSING = "」』）)】〕"


def split_closed(text: str, ends: str = "。") -> tuple[list[str], str]:
    """The sentences of ``text`` that end at a mark of ``ends`` outside brackets, each stripped, none empty
    (a mark followed by another ends its sentence at the last of them: 「？！」); and what follows the last
    of them, stripped (an unfinished sentence, or "")."""
    found: list[str] = []
    start, depth = 0, 0
    for n, ch in enumerate(text):
        if ch in OPENING:
            depth += 1
        elif ch in CLOSING:
            depth = max(0, depth - 1)
        elif depth == 0 and ch in ends and not (n + 1 < len(text) and text[n + 1] in ends):
            found.append(text[start : n + 1].strip())
            start = n + 1
    return [s for s in found if s], text[start:].strip()
