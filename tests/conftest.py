"""Shared fixtures: the real corpus beside the checkout, and a knowledge base built from it once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.state.db import Database, open_database

if TYPE_CHECKING:
    from knowledge.search import Searcher

pytest_plugins = ["tests.fakes.postgres"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"
DEV_SET = SHARED / "eval" / "dev.jsonl"
# Everything in the corpus that is a law or circular (lawqa_jp is a QA benchmark, the rest is metadata).
CORPUS_DIRS = ("xml", "egov_html", "markdown_japan-law", "circulars")


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"the shared corpus is missing at {CORPUS}; it sits beside the checkout")
    return CORPUS


@pytest.fixture(scope="session")
def corpus_data_dir(tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path) -> Path:
    """A knowledge base with the whole corpus and the shipped phrasings ingested (once per session)."""
    from knowledge.ingest import Ingestor, discover
    from knowledge.phrasings import PhrasingSources
    from knowledge.store import KnowledgeStore

    data_dir = tmp_path_factory.mktemp("kb")
    items, errors = discover([shared_corpus / d for d in CORPUS_DIRS], collection="laws")
    assert not errors
    report = Ingestor(store=KnowledgeStore(data_dir), phrasings=PhrasingSources()).ingest(items)
    assert report.documents_written > 50, report.errors
    assert report.phrasings is not None and report.phrasings.lines > 10_000
    return data_dir


@pytest.fixture(scope="session")
def searcher(corpus_data_dir: Path) -> Searcher:
    """A searcher over that knowledge base, shared by the session (searching changes nothing);
    packages with a knowledge base of their own override it."""
    from kairan.wiring import open_searcher

    return open_searcher(corpus_data_dir)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A fresh SQLite state database for one test (packages needing PostgreSQL too override it)."""
    database = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    yield database
    database.close()
