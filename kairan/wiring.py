"""Builds the knowledge-side objects from a data directory, in one place."""

from __future__ import annotations

from pathlib import Path

from knowledge.citations import LawTitleIndex, find_citations, load_abbreviations
from knowledge.search import ArticleRef, Searcher, SearchSettings
from knowledge.store import KnowledgeStore
from knowledge.tokenize import Segmenter


class StoreCitationFinder:
    """Resolves explicit citations against the laws actually in the store."""

    def __init__(self, store: KnowledgeStore) -> None:
        self._index = LawTitleIndex.from_titles(store.law_titles(), abbreviations=load_abbreviations())

    def find(self, question: str) -> list[ArticleRef]:
        return [
            ArticleRef(c.law_id, c.article, c.paragraph, c.item)
            for c in find_citations(question, self._index)
            if c.law_id is not None
        ]


def open_searcher(data_dir: Path, *, settings: SearchSettings | None = None) -> Searcher:
    store = KnowledgeStore(data_dir)
    return Searcher(
        store=store,
        segmenter=Segmenter(),
        citations=StoreCitationFinder(store),
        settings=settings,
    )
