"""Small knowledge bases for the adapter and fault tests: one real law file, ingested for real."""

from __future__ import annotations

from pathlib import Path

import pytest


def law_kb(target: Path, law: Path) -> Path:
    """A knowledge base at ``target`` holding one law file (collection ``laws``), written once."""
    from knowledge.ingest import Ingestor, SourceItem
    from knowledge.store import KnowledgeStore

    if not law.is_file():
        pytest.fail(f"the shared corpus is missing {law}")
    report = Ingestor(store=KnowledgeStore(target), workers=1).ingest(
        [SourceItem(source=str(law), collection="laws", path=law)]
    )
    assert report.documents_written == 1, report.errors
    return target
