"""Retrieval evaluation: recall@k, MRR and abstention accuracy on a gold question set.

A dataset line is ``{"id", "question", "gold": ["law_id:Num", ...], "kind"}``;
``kind`` is ``semantic``, ``citation`` or ``unanswerable`` (gold empty: the right
behaviour is to come back insufficient). The semantic questions are also measured per law (that of
their first gold article): where a phrasing pass would help most.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowledge.search import SearchResult

CUTOFFS = (1, 5, 10)
UNANSWERABLE = "unanswerable"  # the kind whose right behaviour is to abstain (gold empty)
SEMANTIC = "semantic"  # asked in words, not by citing the article


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    gold: tuple[str, ...]
    kind: str

    @property
    def answerable(self) -> bool:
        return self.kind != UNANSWERABLE


@dataclass(frozen=True)
class ItemOutcome:
    item: EvalItem
    rank: int | None  # 1-based rank of the first gold hit, None when missed
    sufficient: bool
    top: list[str]  # "doc_id:article" of the hits, best first
    reason: str
    titles: dict[str, str] = field(default_factory=dict)  # doc_id → title of the laws among the hits


@dataclass
class KindMetrics:
    count: int = 0
    hits_at: dict[int, int] = field(default_factory=lambda: dict.fromkeys(CUTOFFS, 0))
    rr_sum: float = 0.0
    sufficient: int = 0

    def add(self, o: ItemOutcome) -> None:
        self.count += 1
        self.sufficient += o.sufficient
        if o.rank is not None:
            self.rr_sum += 1 / o.rank
            for k in CUTOFFS:
                self.hits_at[k] += o.rank <= k

    def as_json(self) -> dict[str, Any]:
        n = max(self.count, 1)
        return {
            "count": self.count,
            **{f"R@{k}": round(self.hits_at[k] / n, 4) for k in CUTOFFS},
            "MRR": round(self.rr_sum / n, 4),
            "sufficient_rate": round(self.sufficient / n, 4),
        }


class DatasetError(ValueError):
    pass


def load_dataset(path: Path) -> list[EvalItem]:
    items: list[EvalItem] = []
    for lineno, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            items.append(
                EvalItem(str(raw["id"]), str(raw["question"]), tuple(raw.get("gold") or ()), str(raw["kind"]))
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DatasetError(f"{path}:{lineno}: not a dataset line ({exc})") from exc
    if not items:
        raise DatasetError(f"{path}: no questions")
    return items


def evaluate(
    items: Iterable[EvalItem],
    search: Callable[[str], SearchResult],
    *,
    progress: Callable[[int], None] | None = None,
) -> list[ItemOutcome]:
    outcomes = []
    for n, item in enumerate(items, start=1):
        result = search(item.question)
        top = [f"{h.doc_id}:{h.article}" for h in result.hits]
        rank = next((i for i, key in enumerate(top, start=1) if key in item.gold), None)
        titles = {h.doc_id: h.title for h in result.hits}
        outcomes.append(ItemOutcome(item, rank, result.sufficient, top, result.reason, titles))
        if progress:
            progress(n)
    return outcomes


def summarize(outcomes: list[ItemOutcome]) -> dict[str, Any]:
    by_kind: dict[str, KindMetrics] = {}
    by_doc: dict[str, list[ItemOutcome]] = {}
    titles: dict[str, str] = {}
    answerable = answerable_sufficient = right_first = unanswerable = abstained = 0
    for o in outcomes:
        titles.update(o.titles)
        if not o.item.answerable:
            unanswerable += 1
            abstained += not o.sufficient
            continue
        answerable += 1
        answerable_sufficient += o.sufficient
        right_first += o.sufficient and o.rank == 1
        by_kind.setdefault(o.item.kind, KindMetrics()).add(o)
        if o.item.kind == SEMANTIC and o.item.gold:
            by_doc.setdefault(o.item.gold[0].rsplit(":", 1)[0], []).append(o)
    return {
        "by_kind": {kind: m.as_json() for kind, m in sorted(by_kind.items())},
        "by_law": _by_law(by_doc, titles),
        "abstention": {
            "unanswerable": unanswerable,
            "correctly_insufficient": abstained,
            "accuracy": round(abstained / unanswerable, 4) if unanswerable else None,
            "answerable": answerable,
            "answerable_sufficient_rate": round(answerable_sufficient / answerable, 4)
            if answerable
            else None,
            # of the answerable questions: answered citing the gold article first, or another one
            # (a wrong citation is worse than no answer)
            "answered_right_first_rate": round(right_first / answerable, 4) if answerable else None,
            "answered_other_first_rate": round((answerable_sufficient - right_first) / answerable, 4)
            if answerable
            else None,
        },
        "misses": [
            {
                "id": o.item.id,
                "kind": o.item.kind,
                "question": o.item.question,
                "gold": list(o.item.gold),
                "rank": o.rank,
                "sufficient": o.sufficient,
                "top3": o.top[:3],
                "reason": o.reason,
            }
            for o in outcomes
            if _is_miss(o)
        ],
    }


def _by_law(by_doc: dict[str, list[ItemOutcome]], titles: dict[str, str]) -> list[dict[str, Any]]:
    """The semantic questions' metrics per law, most questions first: ``law`` is its title (its doc id when no
    hit of it was seen), ``doc_ids`` the documents under it (a 基本通達 is one per published page)."""
    docs: dict[str, list[str]] = {}
    for doc in by_doc:
        docs.setdefault(titles.get(doc, doc), []).append(doc)
    rows = []
    for law, ids in docs.items():
        m = KindMetrics()
        for doc in ids:
            for o in by_doc[doc]:
                m.add(o)
        rows.append({"law": law, "doc_ids": sorted(ids), **m.as_json()})
    return sorted(rows, key=lambda row: (-row["count"], row["law"]))


def _is_miss(o: ItemOutcome) -> bool:
    if not o.item.answerable:
        return o.sufficient
    return o.rank is None or o.rank > 5 or not o.sufficient
