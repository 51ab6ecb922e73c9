"""Phrasings written by the configured LLM for the articles nobody wrote any for.

This is the knowledge side: which articles need lines, the cache that makes a re-ingest of
unchanged text free, and the reviewable files. The LLM side (prompt, batching, strict parsing)
lives in ``bot/phrasing_author.py`` behind the ``PhrasingAuthor`` protocol, so ``knowledge/``
never imports ``bot/``.

The generated directory (``<data_dir>/phrasings``) holds per document:

    <doc_id>.yaml           the lines, in the format of knowledge/phrasings.py (origin "generated")
    .state/<doc_id>.json    per article: the hashes of the text the lines were written from

Which articles: the main-provision articles (part "main") of every stored document except Q&A
collections (already in question form), minus those with shipped or admin phrasings. An article
is not asked again while its chunk sha256 is the recorded one, or its label + caption + text hash
is (a new revision of a law leaves most articles' text unchanged: those cost nothing). An answer
with no usable line for an article is recorded as well, so it is not paid for again until the
text changes (``force`` asks again). A batch that failed is not recorded: the next run retries it.

The lines of the YAML file are the truth: an admin may edit them in place, and lines for an
article the state does not know (written by hand) are adopted; either lasts until the article's
text changes, when it is written anew.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from lancedb.expr import col

from knowledge.documents import DocKind, ParseError, Part
from knowledge.phrasing_index import PhrasingIndexReport, index_phrasings
from knowledge.phrasings import PhrasingFile, PhrasingSources, dump_file, file_stem, is_deleted, load_file
from knowledge.store import KnowledgeStore
from knowledge.tokenize import Segmenter

ProgressFn = Callable[[str, int, int], None]
STAGE = "generate"  # the progress stage name (kairan/cli.py _STAGES)
STATE_DIR = ".state"
SKIPPED_KINDS = frozenset({str(DocKind.QA)})
_SCAN_COLUMNS = ["doc_id", "kind", "title", "article", "label", "caption", "part", "ordinal", "sha256"]


@dataclass(frozen=True)
class ArticleToPhrase:
    """One article the LLM is asked about, with what it needs to see."""

    doc_id: str
    title: str  # the document's title (地方公務員法)
    article: str  # the article key ("38", "238_4", a section key)
    label: str  # 第三十八条
    caption: str  # （営利企業への従事等の制限）
    path: str  # chapter / section titles
    text: str
    sha256: str  # the chunk row's content hash
    text_sha256: str  # hash of label, caption and text only (unchanged across revisions)


@dataclass(frozen=True)
class BatchResult:
    """What one request brought back. ``error`` set: nothing of it is kept or cached."""

    articles: tuple[ArticleToPhrase, ...]
    lines: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)  # (doc_id, article)
    words: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (doc_id, article) → everyday words
    error: str | None = None
    dropped: int = 0  # lines left out: too long, empty, duplicates, beyond the per-article limit
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 1  # 0 when nothing could be asked (no LLM available)


class PhrasingAuthor(Protocol):
    """Writes lines for articles; calls ``on_batch`` once per request, as each one finishes."""

    @property
    def label(self) -> str: ...  # who writes, for the file header: "anthropic claude-…"

    def write(self, articles: Sequence[ArticleToPhrase], on_batch: Callable[[BatchResult], None]) -> None: ...


@dataclass
class GenerationReport:
    documents: int = 0  # documents with articles sent to the LLM
    articles: int = 0  # articles sent
    phrased: int = 0  # articles that came back with at least one line
    lines: int = 0
    dropped: int = 0
    cached: int = 0  # articles skipped: lines already written for the same text
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    failures: list[str] = field(default_factory=list)  # one per failed batch or unreadable file


def text_hash(label: str, caption: str, text: str) -> str:
    h = hashlib.sha256()
    for part in (label, caption, text):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


# -- the generated directory ---------------------------------------------------------------
@dataclass
class DocState:
    """One document's generated lines and the hashes they were written from."""

    doc_id: str
    title: str
    lines: dict[str, tuple[str, ...]] = field(default_factory=dict)
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)  # key → {sha256, text_sha256}
    words: dict[str, str] = field(default_factory=dict)  # key → everyday words (only beside lines)


class GeneratedPhrasings:
    """``<data_dir>/phrasings``: one reviewable file per document and the hashes beside it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def yaml_path(self, doc_id: str) -> Path:
        return self.directory / f"{file_stem(doc_id)}.yaml"

    def state_path(self, doc_id: str) -> Path:
        return self.directory / STATE_DIR / f"{file_stem(doc_id)}.json"

    def load(self, doc_id: str, title: str) -> DocState:
        """The document's state; ParseError when its YAML file exists but cannot be read."""
        state = DocState(doc_id, title)
        path = self.yaml_path(doc_id)
        if path.is_file():
            written = load_file(path, origin="generated")
            state.lines, state.words = dict(written.articles), dict(written.words)
        try:
            raw = json.loads(self.state_path(doc_id).read_text("utf-8"))
            articles = raw.get("articles", {}) if isinstance(raw, dict) else {}
            state.hashes = {
                str(k): {"sha256": str(v.get("sha256", "")), "text_sha256": str(v.get("text_sha256", ""))}
                for k, v in articles.items()
                if isinstance(v, dict)
            }
        except (OSError, ValueError, AttributeError):
            state.hashes = {}  # no state (or a damaged one): the file's lines are adopted as they are
        return state

    def save(
        self, state: DocState, *, order: Sequence[str], comments: Mapping[str, str], header: str
    ) -> None:
        """Write the YAML file (articles in ``order``, the rest after) and the hashes, each atomically."""
        rank = {key: n for n, key in enumerate(order)}
        keys = sorted(state.lines, key=lambda k: (rank.get(k, len(rank)), k))
        articles = {k: state.lines[k] for k in keys if state.lines[k]}
        words = {k: state.words[k] for k in articles if state.words.get(k)}
        path = self.yaml_path(state.doc_id)
        if articles:
            text = dump_file(
                state.doc_id, state.title, articles, header=header, comments=comments, words=words
            )
            _write_atomic(path, text)
        elif path.exists():
            path.unlink()
        body = {"doc_id": state.doc_id, "articles": {k: state.hashes[k] for k in sorted(state.hashes)}}
        _write_atomic(self.state_path(state.doc_id), json.dumps(body, ensure_ascii=False, indent=1) + "\n")


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # a second process writes a tmp of its own
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)


# -- planning ----------------------------------------------------------------------------
@dataclass
class DocArticles:
    """A stored document's main-provision articles (their chunk rows without the text), in order."""

    doc_id: str
    title: str
    rows: list[dict[str, object]] = field(default_factory=list)  # main-provision rows in order

    @property
    def comments(self) -> dict[str, str]:
        return {str(r["article"]): f"{r['label']}{r['caption']}" for r in self.rows}

    @property
    def order(self) -> list[str]:
        return [str(r["article"]) for r in self.rows]


def main_provisions(store: KnowledgeStore, doc_ids: Sequence[str] | None = None) -> dict[str, DocArticles]:
    """Stored documents (Q&A left out) with their main-provision articles in document order."""
    table = store.chunks
    if table is None:
        return {}
    query = table.search().select(_SCAN_COLUMNS)
    if doc_ids is not None:
        query = query.where(col("doc_id").isin(list(doc_ids)))
    docs: dict[str, DocArticles] = {}
    for batch in query.limit(None).to_batches(8_192):
        for row in batch.to_pylist():
            if row["kind"] in SKIPPED_KINDS or row["part"] != str(Part.MAIN):
                continue
            docs.setdefault(row["doc_id"], DocArticles(row["doc_id"], row["title"])).rows.append(row)
    for doc in docs.values():
        doc.rows.sort(key=lambda r: int(r["ordinal"]))  # type: ignore[call-overload]
    return docs


def covered_articles(files: Sequence[PhrasingFile]) -> dict[str, set[str]]:
    """doc_id → article keys that have lines in ``files``."""
    out: dict[str, set[str]] = {}
    for f in files:
        out.setdefault(f.doc_id, set()).update(k for k, lines in f.articles.items() if lines)
    return out


@dataclass
class PhrasingUpdate:
    generated: GenerationReport | None  # None without an author
    indexed: PhrasingIndexReport
    errors: list[str]  # phrasing files or paths that could not be read


def update_phrasings(
    store: KnowledgeStore,
    sources: PhrasingSources,
    author: PhrasingAuthor | None,
    *,
    segmenter: Segmenter,
    doc_ids: Sequence[str] | None = None,
    force: bool = False,
    progress: ProgressFn | None = None,
) -> PhrasingUpdate:
    """With an author, lines for the bare articles first; then the index in step with every file.

    What an ingest does after writing (and ``kairan phrasings generate``); the shipped and admin
    files are read once for both steps, the generated ones again only after writing. While any file
    cannot be read, neither step runs: the errors name each file and line, and the stored lines and
    models stay as they are.
    """
    people, errors = replace(sources, generated=None).load()
    generated_only = replace(sources, shipped=False, admin=())
    written, more = generated_only.load()
    generated = None
    if author is not None and not errors and not more:
        generated = generate_phrasings(
            store, sources, author, doc_ids=doc_ids, force=force, progress=progress, written_by_people=people
        )
        written, more = generated_only.load()  # with what it wrote
    if errors or more:
        # A file not read is not a file emptied: its document's stored lines stay, so nothing is
        # removed, generated (its articles would look bare) or retrained until every file reads.
        return PhrasingUpdate(generated, PhrasingIndexReport.as_stored(store), [*errors, *more])
    indexed = index_phrasings(store, [*people, *written], segmenter=segmenter, progress=progress)
    return PhrasingUpdate(generated, indexed, [])


def generate_phrasings(
    store: KnowledgeStore,
    sources: PhrasingSources,
    author: PhrasingAuthor,
    *,
    doc_ids: Sequence[str] | None = None,
    force: bool = False,
    progress: ProgressFn | None = None,
    written_by_people: Sequence[PhrasingFile] | None = None,
) -> GenerationReport:
    """Write lines for the stored articles that have none (only ``doc_ids`` when given).

    ``written_by_people``: the shipped and admin files, when the caller has read them already.
    Each finished request is saved at once, so an interrupted run keeps what it paid for.
    Never raises for a bad reply or an unreadable file: both are in ``report.failures``.
    """
    if sources.generated is None:
        raise ValueError("PhrasingSources.generated: the directory for generated phrasings is not set")
    report = GenerationReport()
    if written_by_people is None:
        # A broken shipped or admin file is reported by the indexing step; its articles count as bare.
        written_by_people, _ = replace(sources, generated=None).load()
    covered = covered_articles(written_by_people)
    generated = GeneratedPhrasings(sources.generated)
    header_for = _header(author.label)
    docs = main_provisions(store, doc_ids)
    states: dict[str, DocState] = {}
    todo: list[ArticleToPhrase] = []
    for doc in docs.values():
        try:
            state = generated.load(doc.doc_id, doc.title)
        except ParseError as exc:
            report.failures.append(f"{exc} (not overwritten: fix or delete it)")
            continue
        state.title = doc.title
        wanted, dirty = _plan(doc, state, covered.get(doc.doc_id, set()), force, report)
        asked = _articles(store, doc, state, wanted, force, report)
        dirty = dirty or len(asked) < len(wanted)
        if asked:
            report.documents += 1
            todo.extend(asked)
            states[doc.doc_id] = state
        if dirty:
            generated.save(state, order=doc.order, comments=doc.comments, header=header_for(doc.title))
    report.articles = len(todo)
    if not todo:
        return report
    done = 0
    if progress:
        progress(STAGE, 0, len(todo))

    def on_batch(result: BatchResult) -> None:
        nonlocal done
        report.requests += result.requests
        report.input_tokens += result.input_tokens
        report.output_tokens += result.output_tokens
        report.dropped += result.dropped
        done += len(result.articles)
        if result.error is not None:
            report.failures.append(f"{_where(result.articles)}: {result.error}")
        else:
            touched: dict[str, None] = {}
            for a in result.articles:
                state = states[a.doc_id]
                lines = result.lines.get((a.doc_id, a.article), ())
                words = result.words.get((a.doc_id, a.article), "") if lines else ""
                if lines:
                    state.lines[a.article] = lines
                    report.phrased += 1
                    report.lines += len(lines)
                else:
                    state.lines.pop(a.article, None)
                if words:
                    state.words[a.article] = words
                else:
                    state.words.pop(a.article, None)
                state.hashes[a.article] = {"sha256": a.sha256, "text_sha256": a.text_sha256}
                touched[a.doc_id] = None
            for doc_id in touched:
                doc = docs[doc_id]
                generated.save(
                    states[doc_id], order=doc.order, comments=doc.comments, header=header_for(doc.title)
                )
        if progress:
            progress(STAGE, done, len(todo))

    author.write(todo, on_batch)
    return report


def _plan(
    doc: DocArticles, state: DocState, covered: set[str], force: bool, report: GenerationReport
) -> tuple[list[dict[str, object]], bool]:
    """The rows to look at again (new, changed or forced) and whether the state needs saving."""
    current = {str(r["article"]) for r in doc.rows}
    dirty = False
    for key in [*state.lines, *state.hashes]:  # articles gone from the law, or now written by people
        if key not in current or key in covered:
            dirty |= state.lines.pop(key, None) is not None
            dirty |= state.hashes.pop(key, None) is not None
            state.words.pop(key, None)
    wanted = []
    for row in doc.rows:
        key = str(row["article"])
        if key in covered:
            continue
        known = state.hashes.get(key)
        if known is None and key in state.lines and not force:
            # Lines without a record (added by hand, or the state was lost): kept for this text.
            state.hashes[key] = {"sha256": str(row["sha256"]), "text_sha256": ""}
            dirty, known = True, state.hashes[key]
        if force or known is None or known["sha256"] != row["sha256"]:
            wanted.append(row)
        else:
            report.cached += 1
    return wanted, dirty


def _articles(
    store: KnowledgeStore,
    doc: DocArticles,
    state: DocState,
    wanted: list[dict[str, object]],
    force: bool,
    report: GenerationReport,
) -> list[ArticleToPhrase]:
    """What to send for ``wanted``; articles whose text is unchanged (or 削除) are settled here."""
    if not wanted:
        return []
    rows = store.get_articles((doc.doc_id, str(r["article"])) for r in wanted)
    out = []
    for meta in wanted:
        key = str(meta["article"])
        row = rows.get((doc.doc_id, key))
        if row is None:  # written over by a concurrent ingest: the next run sees it
            continue
        digest = text_hash(row["label"], row["caption"], row["text"])
        known = state.hashes.get(key)
        hashes = {"sha256": row["sha256"], "text_sha256": digest}
        if not force and known is not None and known["text_sha256"] == digest:
            state.hashes[key] = hashes  # a new revision, the same words: keep the lines
            report.cached += 1
            continue
        if is_deleted(row["text"]):
            state.lines.pop(key, None)
            state.hashes[key] = hashes
            continue
        out.append(
            ArticleToPhrase(
                doc_id=doc.doc_id,
                title=doc.title,
                article=key,
                label=row["label"],
                caption=row["caption"],
                path=row["path"],
                text=row["text"],
                sha256=row["sha256"],
                text_sha256=digest,
            )
        )
    return out


def _header(author: str) -> Callable[[str], str]:
    def header(title: str) -> str:
        return (
            f"{title} — LLM（{author}）が書いた職員の言い方。確認してからお使いください\n"
            f"staff phrasings written by {author}: review them. Edits here last until the article's text\n"
            "changes; to keep lines for good, move them into a file of your own (knowledge.phrasings.files)"
        )

    return header


def _where(articles: Sequence[ArticleToPhrase]) -> str:
    documents = len({a.doc_id for a in articles})
    if documents != 1:
        return f"{len(articles)} articles in {documents} documents"
    first, last = articles[0], articles[-1]
    span = first.label if first is last else f"{first.label}〜{last.label}"
    return f"{first.title} {span}"
