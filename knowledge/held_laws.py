"""What the laws a scope of the knowledge store holds are made into, kept until the next ingest.

The citation resolver, the topic catalogue and answer verification each build something from the
(title, doc_id) pairs of the stored law-like documents. A search reads only the collections its tenant
may read, so a law another tenant registered privately is not held for it: each scope (its set of
collections; None for every one) gets its own build, and all are dropped when the store refreshes to a
newer ingest. (Answer verification reads every collection: it checks an answer against the sources the
search gave it, which are already in scope.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from knowledge.store import KnowledgeStore

T = TypeVar("T")
Titles = list[tuple[str, str]]  # (title, doc_id) of each stored law-like document


class HeldLaws(Generic[T]):
    def __init__(self, store: KnowledgeStore, build: Callable[[Titles], T]) -> None:
        self._store = store
        self._build = build
        self._generation = -1
        self._built: dict[frozenset[str] | None, T] = {}

    def of(self, collections: Sequence[str] | None = None) -> T:
        """What ``build`` made of the titles held in ``collections`` (all of them when None or empty)."""
        if self._generation != self._store.generation:  # a newer ingest may have added laws
            self._generation, self._built = self._store.generation, {}
        key = frozenset(collections) if collections else None
        if key not in self._built:
            self._built[key] = self._build(self._store.law_titles(collections))
        return self._built[key]
