"""The laws a knowledge store holds, as answer verification needs them: names and article texts."""

from __future__ import annotations

from collections.abc import Mapping

from knowledge.citations import LawTitleIndex, load_abbreviations
from knowledge.held_laws import HeldLaws
from knowledge.store import KnowledgeStore


class StoreLaws:
    """Law names of the store (re-read after it refreshes to a newer ingest) and its articles' text."""

    def __init__(self, store: KnowledgeStore, abbreviations: Mapping[str, str] | None = None) -> None:
        self._store = store
        names = dict(abbreviations) if abbreviations is not None else load_abbreviations()
        self._titles = HeldLaws(store, lambda pairs: LawTitleIndex.from_titles(pairs, abbreviations=names))

    @property
    def titles(self) -> LawTitleIndex:
        return self._titles.of()

    def articles(self, refs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        return {key: str(row["text"]) for key, row in self._store.get_articles(refs).items()}
