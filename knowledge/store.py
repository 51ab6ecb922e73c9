"""The LanceDB knowledge store: chunk rows with their search terms, and a document register.

Writes are upserts keyed by stable ids. Replacing a document's chunks is a
single ``merge_insert`` commit (new rows in, that document's old rows out), so
a reader sees either the old revision or the new one, never a mix; a process
killed mid-write leaves the previous version intact.

The location is a local directory or an object store URI (``s3://bucket/kb``,
credentials and endpoint from the standard AWS_* environment variables). Either
way the LanceDB database is ``<location>/lancedb`` and the term statistics sit
beside it, so reader processes on other machines see the same knowledge base.
A reader holds a snapshot; ``refresh()`` (or ``maybe_refresh()`` with a
``refresh_interval``) moves it to the newest committed version.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import lancedb
from lancedb.expr import col
from lancedb.index import FTS, BTree
from lancedb.pydantic import LanceModel

from knowledge.absent_model import FILE_NAME as ABSENT_MODEL_FILE
from knowledge.article_model import FILE_NAME as ARTICLE_MODEL_FILE
from knowledge.article_model import ArticleModel
from knowledge.chunks import Chunk, chunk_id
from knowledge.reader import ChunkReader, PhrasingReader
from knowledge.settings import DEFAULT_CACHE_ROWS
from knowledge.stored_files import Location, Marker, file_marker, is_uri, read_file, remove_file, write_file
from knowledge.term_stats import FILE_NAME as TERM_STATS_FILE
from knowledge.term_stats import TermStats

log = logging.getLogger(__name__)

OBSOLETE_FILES = ("law_model.npz",)  # written by earlier versions, removed by the next ingest

CHUNKS = "chunks"
DOCUMENTS = "documents"
PHRASINGS = "phrasings"
ARTICLE_WORDS = "article_words"  # per article, everyday words: read for coverage, not searched
PHRASE_TERMS = "terms"
BODY_TERMS = "body_terms"
CAPTION_TERMS = "caption_terms"
CONTEXT_TERMS = "context_terms"
FTS_COLUMNS = (BODY_TERMS, CAPTION_TERMS, CONTEXT_TERMS)
# B-tree indexes: rows by id, and one document's rows (the provisions delegated to a cited article are
# found by scanning its 施行令 alone, 17 ms instead of 3 s over a million articles).
SCALAR_COLUMNS = ("chunk_id", "doc_id")
_SCAN_BATCH = 8_192


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


class PhrasingRow(LanceModel):
    """One staff phrasing of one article (knowledge/phrasings.py), searchable on its own field."""

    phrase_id: str
    doc_id: str
    article: str
    text: str
    origin: str  # shipped | admin | generated
    terms: str  # Sudachi terms of the text, space-joined


@dataclass
class _LineTable:
    """One per-article line table: its handle and a reader at that handle's version."""

    handle: Any = None  # None until the table exists
    reader: PhrasingReader | None = None
    reader_of: Any = None  # the handle the reader was opened for


T = TypeVar("T")


class _StoredFile(Generic[T]):
    """A file next to the index (knowledge/stored_files.py), read on first use and again once a
    refresh sees it changed. The value is held in one attribute, swapped whole: a search in another
    thread sees the old value or the new one, never a value forgotten half-way."""

    def __init__(self, name: str, load: Callable[[Location], T]) -> None:
        self.name = name
        self._load = load
        self._held: tuple[T] | None = None
        self._marker: Marker | None = None

    def get(self, location: Location) -> T:
        held = self._held
        if held is None:
            self._marker = file_marker(location, self.name)
            held = self._held = (self._load(location),)
        return held[0]

    def stale(self, location: Location) -> bool:
        return self._held is not None and self._marker != file_marker(location, self.name)

    def forget(self) -> None:
        self._held = None


def _model_loader(name: str) -> Callable[[Location], ArticleModel | None]:
    """Reads the model stored as ``name``; one that cannot be read is left out (search goes on without
    it, and the next ingest trains a new one)."""

    def load(location: Location) -> ArticleModel | None:
        data = read_file(location, name)
        if data is None:
            return None
        try:
            return ArticleModel.from_bytes(data)
        except (ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.warning(
                "%s/%s cannot be read (%s); searching without it until the next ingest",
                location,
                name,
                type(exc).__name__,
            )
            return None

    return load


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
    replaces: tuple[str, ...] = ()  # ids this document was stored under before (removed in the same commit)


class StoreError(RuntimeError):
    pass


class KnowledgeStore:
    def __init__(
        self,
        location: Location,
        *,
        refresh_interval: float | None = None,
        cache_rows: int = DEFAULT_CACHE_ROWS,
    ) -> None:
        uri = is_uri(location)
        self.location: Location = str(location).rstrip("/") if uri else Path(location)
        self.data_dir: Path | None = None if uri else Path(location)  # None on object storage
        self.uri = f"{self.location}/lancedb" if uri else str(Path(location) / "lancedb")
        self.db = _connect(self.uri)
        self.refresh_interval = refresh_interval
        self.generation = 0  # bumped whenever refresh() finds a newer index or new term statistics
        self._chunks: Any = None
        self._reader: ChunkReader | None = None  # query-time reads at the version ``_chunks`` holds
        self._reader_of: Any = None  # the ``_chunks`` handle the reader was opened for
        self._cache_rows = cache_rows
        # The per-article line tables: staff phrasings (searched) and everyday words (read only).
        self._lines = {name: _LineTable() for name in (PHRASINGS, ARTICLE_WORDS)}
        self._term_stats = _StoredFile(TERM_STATS_FILE, TermStats.load)
        self._article_model = _StoredFile(ARTICLE_MODEL_FILE, _model_loader(ARTICLE_MODEL_FILE))
        self._absent_model = _StoredFile(ABSENT_MODEL_FILE, _model_loader(ABSENT_MODEL_FILE))
        self._checked = time.monotonic()
        self._refreshing = threading.Lock()

    # -- tables ---------------------------------------------------------
    def _table(self, name: str, model: type[LanceModel], create: bool) -> Any:
        try:
            return self.db.open_table(name)
        except (FileNotFoundError, ValueError) as exc:
            if not _is_missing_table(exc):
                raise StoreError(describe_failure(self.uri, exc)) from exc
            if not create:
                return None
            return self.db.create_table(name, schema=model, exist_ok=True)

    @property
    def chunks(self) -> Any:
        if self._chunks is None:
            self._chunks = self._table(CHUNKS, ChunkRow, create=False)
        return self._chunks

    @property
    def reader(self) -> ChunkReader | None:
        """Full-text queries and whole rows at the current version (None while there is no chunk table)."""
        chunks = self.chunks
        if chunks is None:
            return None
        reader = self._reader
        if reader is None or self._reader_of is not chunks:  # a refresh or a write replaced the handle
            try:
                reader = ChunkReader(
                    self.uri, CHUNKS, chunks.version,
                    storage_options=storage_options(self.uri) or None, cache_rows=self._cache_rows,
                )
            except (OSError, ValueError, RuntimeError) as exc:
                raise StoreError(describe_failure(self.uri, exc)) from exc
            self._reader, self._reader_of = reader, chunks
        return reader

    @property
    def phrasings(self) -> Any:
        return self._line_table(PHRASINGS)

    @property
    def article_words(self) -> Any:
        return self._line_table(ARTICLE_WORDS)

    @property
    def phrase_reader(self) -> PhrasingReader | None:
        """Full-text queries over the staff phrasings (None while there are none)."""
        return self._line_reader(PHRASINGS)

    @property
    def words_reader(self) -> PhrasingReader | None:
        """The articles' everyday words, for their vocabulary (None while there are none)."""
        return self._line_reader(ARTICLE_WORDS)

    def _line_table(self, name: str) -> Any:
        lines = self._lines[name]
        if lines.handle is None:
            lines.handle = self._table(name, PhrasingRow, create=False)
        return lines.handle

    def _line_reader(self, name: str) -> PhrasingReader | None:
        table = self._line_table(name)
        if table is None:
            return None
        lines = self._lines[name]
        if lines.reader is None or lines.reader_of is not table:
            try:
                lines.reader = PhrasingReader(
                    self.uri, name, table.version, storage_options=storage_options(self.uri) or None
                )
            except (OSError, ValueError, RuntimeError) as exc:
                raise StoreError(describe_failure(self.uri, exc)) from exc
            lines.reader_of = table
        return lines.reader

    def is_empty(self) -> bool:
        return self.chunks is None or self.chunks.count_rows() == 0

    def refresh(self) -> bool:
        """Move to the newest committed version (writes by other processes); True if anything changed.

        A fresh table handle replaces the old one, so a read already under way keeps the
        snapshot it started with: every read sees one committed version, never a mix.
        """
        with self._refreshing:
            self._checked = time.monotonic()
            changed = False
            latest = self._table(CHUNKS, ChunkRow, create=False)
            if latest is not None and (self._chunks is None or self._chunks.version != latest.version):
                self._chunks = latest
                changed = True
            for name, lines in self._lines.items():
                table = self._table(name, PhrasingRow, create=False)
                if table is not None and (lines.handle is None or lines.handle.version != table.version):
                    lines.handle = table
                    changed = True
            for stored in (self._term_stats, self._article_model, self._absent_model):
                if stored.stale(self.location):
                    stored.forget()  # reloaded on next use
                    changed = True
            if changed:
                self.generation += 1
            return changed

    def maybe_refresh(self) -> None:
        """Refresh when ``refresh_interval`` seconds have passed; a failure keeps the current snapshot."""
        interval = self.refresh_interval
        if interval is None or time.monotonic() - self._checked < interval:
            return
        if self._refreshing.locked():  # another thread is already at it
            return
        try:
            self.refresh()
        except Exception as exc:
            self._checked = time.monotonic()
            reason = exc if isinstance(exc, StoreError) else type(exc).__name__
            log.warning("knowledge base refresh failed, still serving the previous version: %s", reason)

    def term_stats(self) -> TermStats:
        """Document frequencies written by the last ingest (reloaded after a refresh that saw new ones)."""
        return self._stored(self._term_stats)

    def article_model(self) -> ArticleModel | None:
        """The article model trained by the last ingest that changed the lines (None without one)."""
        return self._stored(self._article_model)

    def absent_model(self) -> ArticleModel | None:
        """The absent-law model (knowledge/absent_model.py) trained by the last ingest that changed the
        lines or the laws held (None without one)."""
        return self._stored(self._absent_model)

    def save_article_model(self, model: ArticleModel | None) -> None:
        """Store ``model`` next to the index (None removes the stored one)."""
        self._save_model(self._article_model, model)

    def save_absent_model(self, model: ArticleModel | None) -> None:
        """Store the absent-law ``model`` next to the index (None removes the stored one)."""
        self._save_model(self._absent_model, model)

    def _save_model(self, stored: _StoredFile[ArticleModel | None], model: ArticleModel | None) -> None:
        try:
            if model is None:
                remove_file(self.location, stored.name)
            else:
                write_file(self.location, stored.name, model.to_bytes())
        except OSError as exc:
            raise StoreError(describe_failure(str(self.location), exc)) from exc
        stored.forget()

    def _stored(self, stored: _StoredFile[T]) -> T:
        try:
            return stored.get(self.location)
        except OSError as exc:
            raise StoreError(describe_failure(str(self.location), exc)) from exc

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
                rows.append({**vars(chunk), **terms})  # flat fields: no deep copy (asdict)
        doc_ids = [w.document.doc_id for w in writes]
        replaced = [old for w in writes for old in w.replaces]
        chunks = self._table(CHUNKS, ChunkRow, create=True)
        (
            chunks.merge_insert("chunk_id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(col("doc_id").isin(doc_ids + replaced))
            .execute(rows)
        )
        self._chunks, self._reader = chunks, None
        documents = self._table(DOCUMENTS, StoredDocument, create=True)
        merge = documents.merge_insert("doc_id").when_matched_update_all().when_not_matched_insert_all()
        if replaced:
            merge = merge.when_not_matched_by_source_delete(col("doc_id").isin(replaced))
        merge.execute([w.document.model_dump() for w in writes])

    def remove(self, doc_ids: Sequence[str]) -> int:
        """Drop documents and their chunks (an answer withdrawn in its chat), one commit per table.

        Returns how many documents were registered; ``ensure_indexes`` then recounts the term statistics.
        """
        ids = sorted(set(doc_ids))
        known = [d for d in ids if d in self.documents()]
        chunks = self.chunks
        if not known or chunks is None:
            return 0
        gone = col("doc_id").isin(known)
        chunks.merge_insert("chunk_id").when_not_matched_by_source_delete(gone).execute(_empty(ChunkRow))
        self._chunks, self._reader = chunks, None
        documents = self._table(DOCUMENTS, StoredDocument, create=False)
        if documents is not None:
            documents.merge_insert("doc_id").when_not_matched_by_source_delete(gone).execute(
                _empty(StoredDocument)
            )
        return len(known)

    # -- staff phrasings ---------------------------------------------
    def line_texts(self, name: str = PHRASINGS) -> list[tuple[str, str, str]]:
        """(doc id, article, text) of every stored line of a line table."""
        table = self._line_table(name)
        if table is None:
            return []
        data = table.to_arrow().select(["doc_id", "article", "text"])
        columns = (data[c].to_pylist() for c in ("doc_id", "article", "text"))
        return list(zip(*columns, strict=True))

    def line_ids(self, name: str = PHRASINGS) -> set[str]:
        """The ids of the stored lines of a line table (PHRASINGS or ARTICLE_WORDS)."""
        table = self._line_table(name)
        if table is None:
            return set()
        return set(table.to_arrow().column("phrase_id").to_pylist())

    def sync_lines(
        self, rows: Sequence[dict[str, str]], *, keep: set[str], name: str = PHRASINGS
    ) -> tuple[int, int]:
        """Make a line table hold exactly ``keep`` ∪ ``rows`` ids: new ``rows`` in, others out.

        ``rows`` are the lines not stored yet (already segmented); ``keep`` the ids of stored ones
        that are still wanted. One commit, like a document write; the phrasings get their full-text
        index, the words none (they are read, never searched). Returns (added, removed).
        """
        table = self._table(name, PhrasingRow, create=bool(rows))
        if table is None:
            return 0, 0
        wanted = keep | {r["phrase_id"] for r in rows}
        stale = self.line_ids(name) - wanted
        if not rows and not stale:
            return 0, 0
        merge = table.merge_insert("phrase_id").when_matched_update_all().when_not_matched_insert_all()
        if stale:
            merge = merge.when_not_matched_by_source_delete(col("phrase_id").isin(sorted(stale)))
        merge.execute(list(rows) if rows else _empty(PhrasingRow))
        if name == PHRASINGS and PHRASE_TERMS not in {idx.columns[0] for idx in table.list_indices()}:
            table.create_index(PHRASE_TERMS, config=_fts_config())
        table.optimize()
        lines = self._lines[name]
        lines.handle, lines.reader = table, None
        return len(rows), len(stale)

    def ensure_indexes(self) -> None:
        """Create the FTS and scalar indexes once; later calls fold new rows into them incrementally."""
        chunks = self.chunks
        if chunks is None:
            return
        existing = {idx.columns[0] for idx in chunks.list_indices()}
        for column in FTS_COLUMNS:
            if column not in existing:
                chunks.create_index(column, config=_fts_config())
        for column in SCALAR_COLUMNS:
            if column not in existing:
                chunks.create_index(column, config=BTree())
        chunks.optimize()
        stats = TermStats.from_term_strings(self._term_rows())
        try:
            stats.save(self.location)
            for name in OBSOLETE_FILES:
                remove_file(self.location, name)
        except OSError as exc:
            raise StoreError(describe_failure(str(self.location), exc)) from exc
        self._term_stats.forget()

    def indexes_current(self) -> bool:
        """Whether every index exists, the FTS indexes cover every row and the term statistics count
        every chunk.

        False after a run that committed batches but was stopped before ``ensure_indexes``, and for a
        store from a release without one of the scalar indexes (the next ingest adds it).
        """
        chunks = self.chunks
        if chunks is None:
            return True
        names = {idx.columns[0]: idx.name for idx in chunks.list_indices()}
        if any(column not in names for column in SCALAR_COLUMNS):
            return False
        for column in FTS_COLUMNS:
            stats = chunks.index_stats(names[column]) if column in names else None
            if stats is None or stats.num_unindexed_rows > 0:
                return False
        return self.term_stats().doc_count == chunks.count_rows()

    def _term_rows(self) -> Iterator[str]:
        """Every chunk's terms, one string per chunk, read in batches (memory stays flat at 1M chunks)."""
        query = self.chunks.search().select(list(FTS_COLUMNS)).limit(None)
        for batch in query.to_batches(_SCAN_BATCH):
            columns = [batch[c].to_pylist() for c in FTS_COLUMNS]
            for row in zip(*columns, strict=True):
                yield " ".join(row)

    # -- reads ----------------------------------------------------------
    def get_articles(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Rows for (doc_id, article) pairs, e.g. from explicit citations."""
        pairs = list(dict.fromkeys(pairs))
        if not pairs or self.chunks is None:
            return {}
        rows = self.get_rows([chunk_id(doc_id, article) for doc_id, article in pairs])
        return {(r["doc_id"], r["article"]): r for r in rows.values()}

    def get_rows(self, chunk_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Whole rows by chunk id (the hits shown, or found only by the dense search)."""
        reader = self.reader if chunk_ids else None
        return reader.rows(chunk_ids) if reader is not None else {}

    def law_titles(self, collections: Sequence[str] | None = None) -> list[tuple[str, str]]:
        """(title, doc_id) of every stored law-like document (of ``collections`` only, when given), for
        the citation resolver and the topic catalogue."""
        return [
            (d.title, d.doc_id)
            for d in self.documents().values()
            if d.kind != "qa" and (not collections or d.collection in collections)
        ]

    def stats(self) -> dict[str, int]:
        docs = self.documents()
        return {
            "documents": len(docs),
            "chunks": 0 if self.chunks is None else self.chunks.count_rows(),
        }


def _empty(model: type[LanceModel]) -> Any:
    """An empty batch with a table's schema (a merge that only deletes still needs a source)."""
    return model.to_arrow_schema().empty_table()


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


# -- object storage ---------------------------------------------------------------------------
_FAILURES = (
    (("NoSuchBucket",), "バケットがありません / bucket not found (NoSuchBucket)"),
    (
        ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId", "ExpiredToken"),
        "認証情報が正しくありません / credentials rejected (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)",
    ),
    (("AccessDenied", "Forbidden", "403"), "アクセスが拒否されました / access denied (403)"),
    (
        ("Connection refused", "error sending request", "dns error", "tcp connect", "Couldn't connect"),
        "接続できません / cannot reach the object store endpoint",
    ),
)


def describe_failure(uri: str, exc: BaseException, environ: Mapping[str, str] = os.environ) -> str:
    """Which location and what failed, in one line; never the exception text (it may echo a request)."""
    text = str(exc)
    reason = next(
        (message for needles, message in _FAILURES if any(n in text for n in needles)),
        f"{type(exc).__name__}",
    )
    endpoint = _endpoint(environ)
    where = f" (endpoint {endpoint})" if is_uri(uri) and endpoint else ""
    return f"知識ベースを開けません / cannot open the knowledge base {uri}{where}: {reason}"


def _endpoint(environ: Mapping[str, str]) -> str | None:
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"):
        if environ.get(name):
            return environ[name]
    return None


def storage_options(uri: str, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """LanceDB options beyond what it reads from AWS_* itself: the endpoint, plain HTTP for a local one."""
    if not uri.startswith("s3://"):
        return {}
    options: dict[str, str] = {}
    endpoint = _endpoint(environ)
    if endpoint:
        options["aws_endpoint"] = endpoint
        if endpoint.startswith("http://") and "AWS_ALLOW_HTTP" not in environ:
            options["allow_http"] = "true"
    return options


def _connect(uri: str) -> Any:
    try:
        return lancedb.connect(uri, storage_options=storage_options(uri) or None)
    except (OSError, ValueError, RuntimeError) as exc:
        raise StoreError(describe_failure(uri, exc)) from exc


_MISSING_TABLE = re.compile(r"^Table '[^']*' was not found")


def _is_missing_table(exc: BaseException) -> bool:
    return isinstance(exc, FileNotFoundError) or bool(_MISSING_TABLE.match(str(exc)))


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
