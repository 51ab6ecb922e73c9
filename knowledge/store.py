"""The LanceDB knowledge store: chunk rows with their search terms, and a document register.

Writes are upserts keyed by stable ids. Replacing a document's chunks is a
single ``merge_insert`` commit (new rows in, that document's old rows out), so
a reader sees either the old revision or the new one, never a mix; a process
killed mid-write leaves the previous version intact.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lancedb
from lancedb.expr import Expr, col, lit
from lancedb.index import FTS, BTree
from lancedb.pydantic import LanceModel

from knowledge.chunks import Chunk
from knowledge.term_stats import TermStats

log = logging.getLogger(__name__)

CHUNKS = "chunks"
DOCUMENTS = "documents"
BODY_TERMS = "body_terms"
CAPTION_TERMS = "caption_terms"
CONTEXT_TERMS = "context_terms"
FTS_COLUMNS = (BODY_TERMS, CAPTION_TERMS, CONTEXT_TERMS)
_FILTERABLE = frozenset({"doc_id", "kind", "collection", "article", "part", "chunk_id"})


class ChunkRow(LanceModel):
    chunk_id: str
    doc_id: str
    kind: str
    collection: str
    title: str
    law_num: str
    revision_id: str
    effective_date: str
    article: str
    label: str
    caption: str
    path: str
    part: str
    ordinal: int
    text: str
    url: str
    sha256: str
    body_terms: str  # Sudachi terms of caption + text, space-joined
    caption_terms: str  # terms of the caption (見出し)
    context_terms: str  # terms of the chapter path and document title


class StoredDocument(LanceModel):
    """The document register: one row per document, what was ingested from where."""

    doc_id: str
    collection: str
    kind: str
    title: str
    source: str
    source_sha256: str  # of the file's bytes: an unchanged file is skipped
    revision_id: str
    effective_date: str  # a newer revision replaces an older one, never the reverse
    chunk_count: int
    ingested_at: str


@dataclass(frozen=True)
class DocumentWrite:
    """One document's new state: its register entry and all its chunks with their search terms."""

    document: StoredDocument
    chunks: Sequence[Chunk]
    terms: Sequence[dict[str, str]]  # per chunk: FTS column name → space-joined terms


class StoreError(RuntimeError):
    pass


class KnowledgeStore:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.db = lancedb.connect(str(self.data_dir / "lancedb"))
        self._chunks: Any = None
        self._documents: Any = None

    # -- tables ---------------------------------------------------------
    def _table(self, name: str, model: type[LanceModel], create: bool) -> Any:
        try:
            return self.db.open_table(name)
        except (FileNotFoundError, ValueError):
            if not create:
                return None
            return self.db.create_table(name, schema=model, exist_ok=True)

    @property
    def chunks(self) -> Any:
        if self._chunks is None:
            self._chunks = self._table(CHUNKS, ChunkRow, create=False)
        return self._chunks

    def is_empty(self) -> bool:
        return self.chunks is None or self.chunks.count_rows() == 0

    def refresh(self) -> None:
        """See writes made by another process (readers hold a snapshot otherwise)."""
        for table in (self._chunks, self._documents):
            if table is not None:
                table.checkout_latest()
        if self._chunks is None:
            self._chunks = self._table(CHUNKS, ChunkRow, create=False)

    # -- documents register -------------------------------------------
    def documents(self) -> dict[str, StoredDocument]:
        table = self._table(DOCUMENTS, StoredDocument, create=False)
        if table is None:
            return {}
        rows = table.to_arrow().to_pylist()
        return {r["doc_id"]: StoredDocument(**r) for r in rows}

    # -- writes ---------------------------------------------------------
    def write(self, writes: Sequence[DocumentWrite]) -> None:
        """Replace the chunks of every document in ``writes`` in one commit, then record them."""
        if not writes:
            return
        rows: list[dict[str, Any]] = []
        for w in writes:
            if len(w.chunks) != len(w.terms):
                raise StoreError(f"{w.document.doc_id}: chunks and terms differ in length")
            for chunk, terms in zip(w.chunks, w.terms, strict=True):
                rows.append({**asdict(chunk), **terms})
        doc_ids = [w.document.doc_id for w in writes]
        chunks = self._table(CHUNKS, ChunkRow, create=True)
        (
            chunks.merge_insert("chunk_id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(col("doc_id").isin(doc_ids))
            .execute(rows)
        )
        self._chunks = chunks
        documents = self._table(DOCUMENTS, StoredDocument, create=True)
        documents.merge_insert("doc_id").when_matched_update_all().when_not_matched_insert_all().execute(
            [w.document.model_dump() for w in writes]
        )

    def ensure_indexes(self) -> None:
        """Create the FTS indexes once; later calls fold new rows into them incrementally."""
        chunks = self.chunks
        if chunks is None:
            return
        existing = {idx.columns[0] for idx in chunks.list_indices()}
        for column in FTS_COLUMNS:
            if column not in existing:
                chunks.create_index(column, config=_fts_config())
        if "chunk_id" not in existing:
            chunks.create_index("chunk_id", config=BTree())
        chunks.optimize()
        terms = chunks.search().select(list(FTS_COLUMNS)).limit(None).to_arrow()
        columns = [terms[c].to_pylist() for c in FTS_COLUMNS]
        TermStats.from_term_strings(" ".join(row) for row in zip(*columns, strict=True)).save(self.data_dir)

    # -- reads ----------------------------------------------------------
    def get_articles(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Rows for (doc_id, article) pairs, e.g. from explicit citations."""
        pairs = list(dict.fromkeys(pairs))
        if not pairs or self.chunks is None:
            return {}
        ids = [f"{doc_id}#{article}" for doc_id, article in pairs]
        rows = self.chunks.search().where(col("chunk_id").isin(ids)).limit(len(ids)).to_list()
        return {(r["doc_id"], r["article"]): r for r in rows}

    def get_rows(self, chunk_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Rows by chunk id (e.g. for hits that only the dense search found)."""
        if not chunk_ids or self.chunks is None:
            return {}
        rows = (
            self.chunks.search().where(col("chunk_id").isin(list(chunk_ids))).limit(len(chunk_ids)).to_list()
        )
        return {r["chunk_id"]: r for r in rows}

    def law_titles(self) -> list[tuple[str, str]]:
        """(title, doc_id) of every stored law-like document, for the citation resolver."""
        return [(d.title, d.doc_id) for d in self.documents().values() if d.kind != "qa"]

    def stats(self) -> dict[str, int]:
        docs = self.documents()
        return {
            "documents": len(docs),
            "chunks": 0 if self.chunks is None else self.chunks.count_rows(),
        }


def build_filter(**fields: str | Sequence[str] | None) -> Expr | None:
    """An ``Expr`` from allow-listed fields; values are literals, never spliced into SQL."""
    expr: Expr | None = None
    for name, value in fields.items():
        if value is None:
            continue
        if name not in _FILTERABLE:
            raise ValueError(f"cannot filter on {name!r}")
        term = (
            col(name).isin(list(value)) if isinstance(value, list | tuple | set) else col(name) == lit(value)
        )
        expr = term if expr is None else expr & term
    return expr


def _fts_config() -> FTS:
    return FTS(
        base_tokenizer="whitespace",
        lower_case=False,
        stem=False,
        remove_stop_words=False,
        ascii_folding=False,
        max_token_length=None,
        with_position=False,
    )


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
