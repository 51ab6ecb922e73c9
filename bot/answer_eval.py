"""Measure the bot's answers, not only its search: what staff would see for each question of a set.

``kairan eval retrieval`` measures the search and its sufficiency decision (``kairan search --json``).
An answer can differ from that decision: with an LLM, a refusal abstains and a near miss the LLM can
quote from is answered (``bot.engine``). This module scores the engine's answers per kind of question:
answered or not, and whether an answered question cites its gold article (first, or anywhere).
``score`` is pure; ``answer_all`` runs the engine over the questions a few at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.answer_text import FALLBACK_NOTICE, READ_BY_LLM_NOTICE
from bot.engine import AnswerEngine
from bot.models import Answer, ConversationRef, IncomingMessage
from knowledge.evaluation import EvalItem


@dataclass(frozen=True)
class AnswerOutcome:
    item: EvalItem
    answered: bool  # not abstained
    gold_first: bool  # the first citation is a gold article
    gold_cited: bool  # some citation is a gold article
    near_miss: bool  # answered from a result the search alone judged insufficient (the LLM read it)
    fallback: bool  # the LLM failed and the search results were shown instead
    first: str | None  # "doc_id:article" of the first citation

    @property
    def right(self) -> bool:
        """Abstained on an unanswerable question; answered an answerable one citing its gold article."""
        if not self.item.answerable:
            return not self.answered
        return self.answered and self.gold_cited


def outcome(item: EvalItem, answer: Answer) -> AnswerOutcome:
    """How ``answer`` fares for ``item``."""
    cited = [f"{c.doc_id}:{c.article}" for c in answer.citations]
    gold = set(item.gold)
    return AnswerOutcome(
        item=item,
        answered=not answer.abstained,
        gold_first=bool(cited) and cited[0] in gold,
        gold_cited=any(c in gold for c in cited),
        near_miss=READ_BY_LLM_NOTICE in answer.warnings,
        fallback=FALLBACK_NOTICE in answer.warnings,
        first=cited[0] if cited else None,
    )


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def score(outcomes: Sequence[AnswerOutcome]) -> dict[str, Any]:
    """Per kind: how many were answered, and (answerable kinds) cited their gold article first or at
    all; for unanswerable ones, how many were answered anyway (each such answer cites something the
    question is not about). Also the near misses the LLM answered, and the LLM failures."""
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in sorted({o.item.kind for o in outcomes}):
        group = [o for o in outcomes if o.item.kind == kind]
        answered = [o for o in group if o.answered]
        row: dict[str, Any] = {
            "count": len(group),
            "answered": len(answered),
            "answered_rate": _share(len(answered), len(group)),
            "near_miss_answered": sum(o.near_miss for o in answered),
        }
        if group[0].item.answerable:
            row["gold_first"] = sum(o.gold_first for o in answered)
            row["gold_cited"] = sum(o.gold_cited for o in answered)
            row["gold_cited_rate"] = _share(row["gold_cited"], len(group))
            row["near_miss_gold_cited"] = sum(o.gold_cited for o in answered if o.near_miss)
        by_kind[kind] = row
    wrong = [o for o in outcomes if not o.right]
    return {
        "by_kind": by_kind,
        "llm_failures": sum(o.fallback for o in outcomes),
        "misses": [
            {
                "id": o.item.id,
                "kind": o.item.kind,
                "answered": o.answered,
                "first": o.first,
                "gold": list(o.item.gold),
                "question": o.item.question,
            }
            for o in wrong
        ],
    }


async def answer_all(
    engine: AnswerEngine,
    items: Sequence[EvalItem],
    *,
    tenant: str,
    collections: Sequence[str] | None,
    concurrency: int = 4,
    progress: Callable[[int], None] | None = None,
) -> list[AnswerOutcome]:
    """The engine's answer to every question (``concurrency`` at a time), in the items' order."""
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(n: int, item: EvalItem) -> AnswerOutcome:
        nonlocal done
        message = IncomingMessage(
            ref=ConversationRef(platform="cli", tenant=tenant, channel="eval", message=str(n)),
            user="eval",
            text=item.question,
        )
        async with gate:
            answer = await engine.answer(message, collections=collections)
        done += 1
        if progress is not None:
            progress(done)
        return outcome(item, answer)

    return list(await asyncio.gather(*(one(n, item) for n, item in enumerate(items))))
