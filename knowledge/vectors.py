"""Optional dense vectors: one LanceDB table per embedding model, keyed by chunk id.

Kept apart from the chunk table so the lexical store never depends on a model,
and switching models means a new table, not a migration. Only chunks whose
content hash changed are embedded again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from lancedb.expr import Expr, col

from knowledge.chunks import body_text
from knowledge.embeddings import Embedder
from knowledge.store import KnowledgeStore

ProgressFn = Callable[[int, int], None]
_FILTER_COLUMNS = ("chunk_id", "doc_id", "collection", "kind", "part", "sha256")


def table_name(embedder: Embedder) -> str:
    safe = re.sub(r"[^0-9A-Za-z_]+", "_", embedder.name).strip("_").lower() or "model"
    return f"vectors_{safe}_{embedder.dim}"


class VectorIndex:
    def __init__(self, *, store: KnowledgeStore, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder
        self.name = table_name(embedder)

    def _table(self) -> Any:
        try:
            return self.store.db.open_table(self.name)
        except (FileNotFoundError, ValueError):
            return None

    def _schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(c, pa.string()) for c in _FILTER_COLUMNS]
            + [pa.field("vector", pa.list_(pa.float32(), self.embedder.dim))]
        )

    def sync(self, doc_ids: Sequence[str] | None = None, *, progress: ProgressFn | None = None) -> int:
        """Embed chunks that are new or changed and drop vectors of chunks that are gone.

        ``doc_ids`` limits the work to those documents; None checks the whole store,
        which also repairs vectors missing after an interrupted run.
        """
        chunks = self.store.chunks
        if chunks is None:
            return 0
        where = col("doc_id").isin(list(doc_ids)) if doc_ids is not None else None
        query = chunks.search().select([*_FILTER_COLUMNS, "caption", "text"])
        rows = (query.where(where) if where is not None else query).limit(None).to_list()
        table = self._table()
        known: set[tuple[str, str]] = set()
        if table is not None:
            existing = table.search().select(["chunk_id", "sha256"])
            existing = existing.where(where) if where is not None else existing
            known = {(r["chunk_id"], r["sha256"]) for r in existing.limit(None).to_list()}
        todo = [r for r in rows if (r["chunk_id"], r["sha256"]) not in known]
        texts = [body_text(r["caption"], r["text"]) for r in todo]
        vectors = self.embedder.embed_documents(texts, progress=progress)
        records = [
            {**{c: r[c] for c in _FILTER_COLUMNS}, "vector": v.astype(np.float32)}
            for r, v in zip(todo, vectors, strict=True)
        ]
        if table is None:
            if not records:
                return 0
            table = self.store.db.create_table(self.name, schema=self._schema(), exist_ok=True)
        stale = ~col("chunk_id").isin([r["chunk_id"] for r in rows]) if rows else None
        if where is not None:
            stale = where if stale is None else where & stale
        if records:
            builder = table.merge_insert("chunk_id").when_matched_update_all().when_not_matched_insert_all()
            if stale is not None:
                builder = builder.when_not_matched_by_source_delete(stale)
            builder.execute(pa.Table.from_pylist(records, schema=self._schema()))
        elif stale is not None:
            table.delete(stale.to_sql())
        return len(records)

    def search(self, query: str, *, limit: int, where: Expr | None) -> list[tuple[str, float]]:
        """(chunk_id, cosine similarity) of the nearest chunks, best first."""
        table = self._table()
        if table is None:
            return []
        vector = self.embedder.embed_query(query)
        builder = table.search(vector.astype(np.float32), vector_column_name="vector").distance_type("cosine")
        if where is not None:
            builder = builder.where(where, prefilter=True)
        rows = builder.select(["chunk_id", "_distance"]).limit(limit).to_list()
        return [(r["chunk_id"], 1.0 - float(r["_distance"])) for r in rows]
