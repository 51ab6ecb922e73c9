"""Ingest files into the knowledge store.

Per file (in worker processes, the slow part): read → parse → chunk → segment.
Then in the parent: skip unchanged files, keep the newest revision of each law,
and write in batches, each one atomic commit. Errors name the file and never stop
the batch; nothing stored is touched for a file that failed.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from knowledge.chunks import (
    LAW_KINDS,
    Chunk,
    chunks_from_document,
    search_body,
    search_caption,
    search_context,
)
from knowledge.documents import DEFAULT_COLLECTION, ParsedDocument, ParseError
from knowledge.identity import Provenance, is_law_id, legacy_id, stored_identity
from knowledge.limits import DEFAULT_LIMITS, Budget, IngestLimits, LimitExceeded, size_text
from knowledge.parsers import SUPPORTED_SUFFIXES, parse_bytes
from knowledge.store import (
    BODY_TERMS,
    CAPTION_TERMS,
    CONTEXT_TERMS,
    DocumentWrite,
    KnowledgeStore,
    StoredDocument,
    now_iso,
)
from knowledge.tokenize import Segmenter

if TYPE_CHECKING:
    from knowledge.phrasing_generation import GenerationReport, PhrasingAuthor
    from knowledge.phrasing_index import PhrasingIndexReport
    from knowledge.phrasings import PhrasingSources
    from knowledge.vectors import VectorIndex

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)
_BATCH_CHUNKS = 20_000


@dataclass(frozen=True)
class SourceItem:
    """Something to ingest: bytes already in hand (from e-Gov, a feed) or a file path.

    ``provenance`` says where it came from, which decides the id it may be stored under
    (knowledge.identity): only a law source writes a law's id.
    """

    source: str
    collection: str
    path: Path | None = None
    data: bytes | None = None
    provenance: Provenance = Provenance.ADMIN


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)  # older revisions not written
    errors: list[tuple[str, str]] = field(default_factory=list)  # (source, message)
    chunks_written: int = 0
    vectors_written: int = 0
    phrasings: PhrasingIndexReport | None = None
    generated: GenerationReport | None = None  # phrasings the LLM wrote in this run

    @property
    def documents_written(self) -> int:
        return len(self.added) + len(self.updated)


@dataclass(frozen=True)
class _Prepared:
    source: str
    source_sha256: str
    write: DocumentWrite | None
    error: str | None = None


@dataclass
class _Run:
    """One ingest run's bookkeeping: the batch being filled and what this run has committed."""

    stored: dict[str, StoredDocument]
    report: IngestReport
    progress: ProgressFn | None
    pending: dict[str, _Prepared] = field(default_factory=dict)
    # doc_id → (effective date, source) of the version committed; not the chunks, to keep memory flat
    written: dict[str, tuple[str, str]] = field(default_factory=dict)
    holders: dict[str, str] = field(default_factory=dict)  # doc_id → collection, queued or written this run
    prepared_chunks: int = 0

    def offer(self, result: _Prepared) -> None:
        """Queue ``result`` unless an older revision than one stored, queued or written this run,
        or a law that another collection holds (a collection's ingest never removes another's)."""
        assert result.write is not None
        doc = result.write.document
        holder = self.holders.get(doc.doc_id) or _law_holder(self.stored.get(doc.doc_id))
        if holder is not None and holder != doc.collection:
            self.report.errors.append((result.source, _held_elsewhere(result.source, doc, holder)))
            return
        queued = self.pending.get(doc.doc_id)
        previous = (
            (queued.write.document.effective_date, queued.source)
            if queued is not None and queued.write is not None
            else self.written.get(doc.doc_id)
        )
        if previous is not None:
            if previous[0] > doc.effective_date:
                self.report.superseded.append(f"{result.source} (older than {previous[1]})")
                return
            self.report.superseded.append(f"{previous[1]} (older than {result.source})")
        old = self.stored.get(doc.doc_id)
        if old is not None and old.collection == doc.collection and old.effective_date > doc.effective_date:
            self.report.superseded.append(
                f"{result.source} (older than the stored revision {old.revision_id})"
            )
            return
        self.pending[doc.doc_id] = _with_legacy_replaced(result, self.stored)
        self.holders[doc.doc_id] = doc.collection
        self.prepared_chunks += len(result.write.chunks)

    def pending_chunks(self) -> int:
        return sum(len(p.write.chunks) for p in self.pending.values() if p.write)

    def take_pending(self) -> list[DocumentWrite]:
        batch = [p.write for p in self.pending.values() if p.write]
        for w in batch:
            self.written[w.document.doc_id] = (w.document.effective_date, w.document.source)
        self.pending = {}
        return batch

    def committed(self, batch: list[DocumentWrite]) -> None:
        if self.progress:
            self.progress("write", self.report.chunks_written, self.prepared_chunks)


def _law_holder(stored: StoredDocument | None) -> str | None:
    """The collection of a stored statute; None for anything else (a non-law document at a law's id
    was written before ids carried the collection, and the law source replaces it)."""
    return stored.collection if stored is not None and stored.kind in LAW_KINDS else None


def _current_id(doc: StoredDocument) -> bool:
    """Whether ``doc`` is stored under the id it would get today (a law id for statutes, else namespaced)."""
    return is_law_id(doc.doc_id) if doc.kind in LAW_KINDS else legacy_id(doc.doc_id) is not None


def _held_elsewhere(source: str, doc: StoredDocument, holder: str) -> str:
    return (
        f"{source}: {doc.doc_id}（{doc.title}）はコレクション {holder} にあります。{doc.collection} への"
        f"取り込みでは置き換えません / {doc.doc_id} is held by collection {holder!r}; an ingest into "
        f"{doc.collection!r} does not replace it"
    )


def _with_legacy_replaced(result: _Prepared, stored: dict[str, StoredDocument]) -> _Prepared:
    """A document stored under its id from before ids carried the collection is replaced, not kept twice."""
    assert result.write is not None
    doc = result.write.document
    legacy = legacy_id(doc.doc_id)
    old = stored.get(legacy) if legacy else None
    if old is None or old.collection != doc.collection or old.kind in LAW_KINDS:
        return result
    return replace(result, write=replace(result.write, replaces=(old.doc_id,)))


def discover(paths: Iterable[Path], *, collection: str) -> tuple[list[SourceItem], list[tuple[str, str]]]:
    """Expand directories into supported files; report missing paths and links that leave the folder.

    A folder is read as a tree: symbolic links are followed only to files inside it (a link to
    /etc/passwd or to another folder is reported and skipped); a path named directly is read.
    """
    items: list[SourceItem] = []
    errors: list[tuple[str, str]] = []
    for path in paths:
        if path.is_dir():
            files, outside = _tree_files(path)
            items += [SourceItem(source=str(f), collection=collection, path=f) for f in files]
            errors += [(str(link), _LEAVES_FOLDER.format(link=link, root=path)) for link in outside]
        elif path.is_file():
            items.append(SourceItem(source=str(path), collection=collection, path=path))
        else:
            errors.append((str(path), "no such file or directory"))
    return items, errors


_LEAVES_FOLDER = (
    "{link}: 取り込むフォルダの外へのリンクのため取り込みません（{root}） / a link that leads outside "
    "the folder {root}; skipped"
)


def _tree_files(root: Path) -> tuple[list[Path], list[Path]]:
    """Supported files under ``root`` (sorted), and the links under it that lead out of it.

    Directories reached through a link are not entered (their files, if inside, are reached anyway).
    """
    base = root.resolve()
    files: list[Path] = []
    outside: list[Path] = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in dirs:
            if (here / name).is_symlink() and not _inside(here / name, base):
                outside.append(here / name)
        for name in sorted(names):
            file = here / name
            if name.startswith(".") or file.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            if file.is_symlink() and not _inside(file, base):
                outside.append(file)
            elif file.is_file():
                files.append(file)
    return sorted(files), sorted(outside)


def _inside(link: Path, base: Path) -> bool:
    try:
        return link.resolve().is_relative_to(base)
    except (OSError, RuntimeError):  # a loop or a broken chain of links
        return False


# -- worker side ---------------------------------------------------------
_segmenter: Segmenter | None = None


def _worker_segmenter() -> Segmenter:
    global _segmenter  # one per worker process: Sudachi's dictionary is costly to load
    if _segmenter is None:
        _segmenter = Segmenter()
    return _segmenter


@dataclass(frozen=True)
class IngestRules:
    """What a worker needs besides the item: where statutes may go, and the per-file limits."""

    law_collections: tuple[str, ...] = (DEFAULT_COLLECTION,)
    limits: IngestLimits = DEFAULT_LIMITS


DEFAULT_RULES = IngestRules()


def prepare(item: SourceItem, rules: IngestRules = DEFAULT_RULES) -> _Prepared:
    """Read, parse, chunk and segment one source. Never raises: errors come back as text."""
    budget = Budget(item.source, rules.limits)
    try:
        if _size(item) > rules.limits.max_file_bytes:
            raise budget.exceeded("ファイルの大きさ", "the file", size_text(rules.limits.max_file_bytes))
        data = item.data if item.data is not None else item.path.read_bytes()  # type: ignore[union-attr]
    except OSError as exc:
        return _Prepared(item.source, "", None, f"cannot read: {exc.strerror}")
    except LimitExceeded as exc:
        return _Prepared(item.source, "", None, str(exc))
    sha = hashlib.sha256(data).hexdigest()
    try:
        doc = parse_item(item, data, rules.law_collections, budget)
        return _Prepared(item.source, sha, build_write(doc, item, sha, _worker_segmenter(), budget))
    except (ParseError, ValueError) as exc:
        return _Prepared(item.source, sha, None, str(exc))
    except Exception as exc:  # a parser bug must not stop the batch
        log.exception("unexpected error while parsing %s", item.source)
        return _Prepared(item.source, sha, None, f"internal error while parsing ({type(exc).__name__})")


def parse_item(
    item: SourceItem,
    data: bytes,
    law_collections: Collection[str] = (DEFAULT_COLLECTION,),
    budget: Budget | None = None,
) -> ParsedDocument:
    """Parse ``data`` as the item's provenance allows, under the id it may be stored with."""
    return stored_identity(
        parse_bytes(data, item.source, item.provenance, budget),
        source=item.source,
        collection=item.collection,
        provenance=item.provenance,
        law_collections=law_collections,
    )


def build_write(
    doc: ParsedDocument, item: SourceItem, sha: str, segmenter: Segmenter, budget: Budget | None = None
) -> DocumentWrite:
    chunks = chunks_from_document(doc, collection=item.collection)
    context_cache: dict[str, str] = {}
    if not chunks:
        raise ParseError(f"{item.source}: no articles or sections found")
    budget = budget or Budget(item.source)
    terms = []
    for chunk in chunks:  # each at most MAX_SECTION_CHARS: the deadline is checked often enough
        budget.check()
        terms.append(_chunk_terms(chunk, segmenter, context_cache))
    return DocumentWrite(
        document=StoredDocument(
            doc_id=doc.doc_id,
            collection=item.collection,
            kind=str(doc.kind),
            title=doc.title,
            source=item.source,
            source_sha256=sha,
            revision_id=doc.revision_id,
            effective_date=doc.effective_date,
            chunk_count=len(chunks),
            ingested_at=now_iso(),
        ),
        chunks=chunks,
        terms=terms,
    )


def _chunk_terms(chunk: Chunk, segmenter: Segmenter, context_cache: dict[str, str]) -> dict[str, str]:
    context = search_context(chunk)
    if context not in context_cache:  # every article of a chapter shares it
        context_cache[context] = segmenter.joined(context)
    return {
        BODY_TERMS: segmenter.joined(search_body(chunk)),
        CAPTION_TERMS: segmenter.joined(search_caption(chunk)),
        CONTEXT_TERMS: context_cache[context],
    }


# -- parent side ---------------------------------------------------------
class Ingestor:
    def __init__(
        self,
        *,
        store: KnowledgeStore,
        workers: int | None = None,
        vectors: VectorIndex | None = None,
        phrasings: PhrasingSources | None = None,
        phrasing_author: PhrasingAuthor | None = None,
        law_collections: Collection[str] = (DEFAULT_COLLECTION,),
        limits: IngestLimits = DEFAULT_LIMITS,
    ) -> None:
        self.store = store
        self.workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        self.vectors = vectors  # dense vectors are embedded after each commit when a model is configured
        self.phrasings = phrasings  # staff phrasings indexed for the stored articles after every run
        # With an author (the configured LLM), articles without phrasings get some before indexing.
        self.phrasing_author = phrasing_author
        self.law_collections = tuple(law_collections)  # the only collections statutes may go into
        self.limits = limits  # per file: a file over a limit is reported and skipped

    def ingest(
        self, items: Sequence[SourceItem], *, progress: ProgressFn | None = None, reparse: bool = False
    ) -> IngestReport:
        """Ingest ``items``; batches are written as soon as they fill, so memory stays bounded. A file
        stored before, unchanged, is not read again unless ``reparse`` (after an upgrade of the parsers)."""
        report = IngestReport()
        stored = self.store.documents()
        # A file stored under an id from before ids carried the collection is read again, once, to move it.
        known_sources = (
            set() if reparse else {(d.source_sha256, d.collection) for d in stored.values() if _current_id(d)}
        )
        todo = [i for i in items if not _unchanged_file(i, known_sources, report, self.limits)]
        run = _Run(stored=stored, report=report, progress=progress)
        done = len(items) - len(todo)
        if progress:
            progress("parse", done, len(items))
        for result in self._prepare_all(todo):
            done += 1
            if progress:
                progress("parse", done, len(items))
            if result.error is not None or result.write is None:
                report.errors.append((result.source, result.error or "no content"))
                continue
            run.offer(result)
            if run.pending_chunks() >= _BATCH_CHUNKS:
                self._flush(run)
        self._flush(run)
        if self.vectors is not None:  # also repairs vectors missed by an interrupted run
            on_embed = (lambda done, total: progress("embed", done, total)) if progress else None
            report.vectors_written = self.vectors.sync(progress=on_embed)
        # Also after a run that was stopped between its last commit and the index build.
        if report.documents_written or not self.store.indexes_current():
            if progress:
                progress("index", 0, 1)
            self.store.ensure_indexes()
            if self.vectors is not None:
                self.vectors.ensure_index()
            if progress:
                progress("index", 1, 1)
        if self.phrasings is not None:
            self._index_phrasings(report, progress)
        return report

    def _index_phrasings(self, report: IngestReport, progress: ProgressFn | None) -> None:
        """Bring the phrasing index in step with the files and the articles now stored.

        With an author, the articles without lines get some first (stage "generate"), cached by
        content hash so unchanged text is free. The whole store is checked, like the vectors, so an
        interrupted run or a failed batch is completed by the next ingest; a failure is reported,
        never fatal. A broken phrasing file is reported with its path and line, and the index is
        left as it is until every file reads (its lines are not taken for deleted ones).
        """
        from knowledge.phrasing_generation import update_phrasings

        assert self.phrasings is not None
        update = update_phrasings(
            self.store, self.phrasings, self.phrasing_author, segmenter=Segmenter(), progress=progress
        )
        report.errors.extend(("phrasings", message) for message in update.errors)
        if update.generated is not None:
            report.generated = update.generated
            report.errors.extend(("phrasings (LLM)", message) for message in update.generated.failures)
        report.phrasings = update.indexed

    def _prepare_all(self, items: Sequence[SourceItem]) -> Iterator[_Prepared]:
        work = partial(prepare, rules=IngestRules(self.law_collections, self.limits))
        if self.workers <= 1 or len(items) <= 1:
            yield from map(work, items)
            return
        # Big files first so both workers stay busy to the end.
        ordered = sorted(items, key=_size, reverse=True)
        # spawn, not fork: LanceDB's runtime threads do not survive a fork safely.
        with ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            yield from pool.map(work, ordered)

    def _flush(self, run: _Run) -> None:
        batch = run.take_pending()
        if batch:
            self._commit(batch, run.stored, run.report)
            run.committed(batch)

    def _commit(
        self, batch: list[DocumentWrite], stored: dict[str, StoredDocument], report: IngestReport
    ) -> int:
        self.store.write(batch)
        for w in batch:
            doc_id = w.document.doc_id
            if doc_id not in report.added and doc_id not in report.updated:
                (report.updated if doc_id in stored or w.replaces else report.added).append(doc_id)
        n = sum(len(w.chunks) for w in batch)
        report.chunks_written += n
        return n


def _unchanged_file(
    item: SourceItem, known: set[tuple[str, str]], report: IngestReport, limits: IngestLimits
) -> bool:
    if _size(item) > limits.max_file_bytes:
        return False  # not read here: the worker reports a file over the size limit
    try:
        data = item.data if item.data is not None else item.path.read_bytes()  # type: ignore[union-attr]
    except OSError:
        return False  # the worker reports the error
    if (hashlib.sha256(data).hexdigest(), item.collection) in known:
        report.unchanged.append(item.source)
        return True
    return False


def _size(item: SourceItem) -> int:
    if item.data is not None:
        return len(item.data)
    try:
        return item.path.stat().st_size  # type: ignore[union-attr]
    except OSError:
        return 0
