from pathlib import Path

from kairan.wiring import open_searcher
from manifest.schema import KnowledgeBaseConfig, Manifest


def test_the_manifest_sets_how_many_articles_stay_in_memory(tmp_path: Path) -> None:
    manifest = Manifest(knowledge=KnowledgeBaseConfig(cache_rows=7, refresh_seconds=30))
    store = open_searcher(tmp_path, manifest=manifest).store
    assert (store._cache_rows, store.refresh_interval) == (7, 30)
