"""Before a 照会 is sent: answers to similar inquiries already answered, cited like any source.

When the bot abstains in a tenant whose inquiries go somewhere, its inquiry collection (its own, or one
it shares with other tenants) is searched for captured answers whose question shares most of the new
question's words, even when they do not answer it well enough to be an answer by themselves; up to
``LIMIT`` are listed after the abstention with their citations, so the asker can check them first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from bot import wording
from bot.models import Answer, Citation
from bot.prompt import term_score, term_stems

if TYPE_CHECKING:
    from knowledge.search import Searcher

LIMIT = 2
MIN_SHARE = 0.5  # of the question's terms the captured question and answer must contain
INQUIRY_DOC = "/inquiry-"  # captured answers are {collection}/inquiry-<id> (bot.inquiry.knowledge)


@dataclass(frozen=True)
class Similar:
    doc_id: str
    article: str
    label: str  # 照会回答 2026-12-04 法務担当 照会12
    url: str
    question: str
    answer: str


def similar_answers(
    searcher: Searcher, question: str, collections: Sequence[str], *, limit: int = LIMIT
) -> list[Similar]:
    """Captured answers in ``collections`` whose text holds at least half of the question's terms."""
    stems = term_stems(searcher.segmenter.query_terms(question).terms)
    if not stems:
        return []
    found: list[Similar] = []
    for hit in searcher.search(question, k=5, collections=list(collections)).hits:
        if hit.kind != "qa" or INQUIRY_DOC not in hit.doc_id:
            continue
        if term_score(hit.text, stems) < MIN_SHARE * len(stems):
            continue
        found.append(Similar(
            doc_id=hit.doc_id, article=hit.article, label=f"{hit.title} {hit.label}".strip(), url=hit.url,
            question=hit.caption, answer=_answer_line(hit.text),
        ))
        if len(found) == limit:
            break
    return found


def _answer_line(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("答"):
            return line[1:].strip(" \u3000")
    return text.strip().splitlines()[0] if text.strip() else ""


def with_similar(answer: Answer, similar: Sequence[Similar]) -> Answer:
    """The abstention with the similar answers listed after it, each cited ([1], [2]…)."""
    if not similar:
        return answer
    start = max((c.n for c in answer.citations), default=0)
    lines = [wording.INQUIRY_SIMILAR]
    citations = list(answer.citations)
    for n, found in enumerate(similar, start=start + 1):
        lines.append(f"・{found.label}「{found.question}」[{n}]")
        citations.append(Citation(n=n, doc_id=found.doc_id, article=found.article, title=found.label,
                                  url=found.url, quote=found.answer[:200], verified=True))
    return replace(answer, text=f"{answer.text.rstrip()}\n\n" + "\n".join(lines), citations=tuple(citations))
