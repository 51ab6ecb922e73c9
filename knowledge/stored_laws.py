"""The laws a knowledge store holds, as answer verification needs them: names and article texts."""

from __future__ import annotations

from collections.abc import Mapping

from knowledge.citations import LawTitleIndex, load_abbreviations
from knowledge.store import KnowledgeStore


class StoreLaws:
    """Law names of the store (re-read after it refreshes to a newer ingest) and its articles' text."""

    def __init__(self, store: KnowledgeStore, abbreviations: Mapping[str, str] | None = None) -> None:
        self._store = store
        self._abbreviations = dict(abbreviations) if abbreviations is not None else load_abbreviations()
        self._generation: int | None = None
        self._titles: LawTitleIndex | None = None

    @property
    def titles(self) -> LawTitleIndex:
        if self._titles is None or self._generation != self._store.generation:
            self._generation = self._store.generation
            pairs = self._store.law_titles()
            self._titles = LawTitleIndex.from_titles(pairs, abbreviations=self._abbreviations)
        return self._titles

    def articles(self, refs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        return {key: str(row["text"]) for key, row in self._store.get_articles(refs).items()}
