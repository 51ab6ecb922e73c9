"""Keeps the phrasing table in step with the phrasing files and the documents actually stored.

Only lines for stored articles are indexed (a phrasing of an article the law no longer has is
reported, not searched). Lines are identified by (document, article, text), so re-indexing an
unchanged set segments and writes nothing. The article model (knowledge/article_model.py) and the
absent-law model (knowledge/absent_model.py) are trained on the stored lines afterwards, again only when
what they learn from changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from threadpoolctl import threadpool_limits

from knowledge import absent_model
from knowledge.article_model import ARTICLES, ArticleModel, Recipe, digest, train
from knowledge.chunks import LAW_KINDS
from knowledge.law_topics import TopicCatalogue, absent_law_lines
from knowledge.phrasings import Phrasing, PhrasingFile
from knowledge.store import ARTICLE_WORDS, PHRASE_TERMS, PHRASINGS, KnowledgeStore
from knowledge.tokenize import Segmenter

ProgressFn = Callable[[str, int, int], None]
ARTICLE_MODEL = "article_model"  # the progress stage of its training
ABSENT_MODEL = "absent_model"  # … and of the absent-law model's


@dataclass
class PhrasingIndexReport:
    lines: int = 0  # lines indexed in all (for stored articles)
    added: int = 0
    removed: int = 0
    unknown: list[str] = field(default_factory=list)  # "file: article KEY" for articles not stored
    other_documents: int = 0  # files for documents not in the knowledge base (not indexed)
    words: int = 0  # articles with a line of everyday words (stored apart, read for coverage)
    article_model: str = "none"  # "trained", "unchanged" or "none" (lines of fewer than two articles)
    article_model_articles: int = 0
    absent_model: str = "none"  # "trained", "unchanged" or "none" (no lines, or no catalogue law absent)
    absent_model_laws: tuple[int, int] = (0, 0)  # the held laws and the laws not held it tells apart
    kept_stored: bool = False  # a phrasing file could not be read: the stored lines and models were kept

    @classmethod
    def as_stored(cls, store: KnowledgeStore) -> PhrasingIndexReport:
        """The report of an index kept as it is: ``lines`` and ``words`` count what stays stored."""
        phrasings, words = (len(store.line_ids(name)) for name in (PHRASINGS, ARTICLE_WORDS))
        return cls(lines=phrasings, words=words, kept_stored=True)


def stored_articles(store: KnowledgeStore) -> dict[str, set[str]]:
    """doc_id → article keys of every stored chunk."""
    table = store.chunks
    if table is None:
        return {}
    data = table.search().select(["doc_id", "article"]).limit(None).to_arrow()
    out: dict[str, set[str]] = {}
    for doc_id, article in zip(data["doc_id"].to_pylist(), data["article"].to_pylist(), strict=True):
        out.setdefault(doc_id, set()).add(article)
    return out


def index_phrasings(
    store: KnowledgeStore,
    files: Sequence[PhrasingFile],
    *,
    segmenter: Segmenter,
    progress: ProgressFn | None = None,
) -> PhrasingIndexReport:
    report = PhrasingIndexReport()
    existing = stored_articles(store)
    wanted: dict[str, Phrasing] = {}
    words: dict[tuple[str, str], Phrasing] = {}  # one line per article: a later file's replaces it
    for f in files:
        articles = existing.get(f.doc_id)
        if articles is None:
            report.other_documents += 1
            continue
        for p in f.phrasings():
            if p.article in articles:
                wanted.setdefault(p.phrase_id, p)
            else:
                report.unknown.append(f"{f.path}: article {p.article}")
        for p in f.article_words():
            if p.article in articles:
                words[(p.doc_id, p.article)] = p
            else:
                report.unknown.append(f"{f.path}: article {p.article}")
    report.unknown = list(dict.fromkeys(report.unknown))
    report.lines, report.words = len(wanted), len(words)
    report.added, report.removed = _sync(store, wanted, PHRASINGS, segmenter, progress)
    _sync(store, {p.phrase_id: p for p in words.values()}, ARTICLE_WORDS, segmenter, progress)
    # Side by side: the absent-law model's one member trains beside the article model's three (45 → 36 s
    # for both on two cores, measured when those trained two at a time). Each training holds BLAS to one
    # thread; held here as well, the limit is set and put back by this thread alone (the trainings' own
    # limits only ever find and put back this one).
    with threadpool_limits(1), ThreadPoolExecutor(max_workers=1) as beside:
        absent = beside.submit(update_absent_model, store, progress)
        report.article_model, report.article_model_articles = update_article_model(store, progress)
        report.absent_model, report.absent_model_laws = absent.result()
    return report


def article_examples(store: KnowledgeStore) -> list[tuple[str, str]]:
    """What the article model is trained on: ("doc_id:article", text) for every stored line and words line."""
    lines = store.line_texts(PHRASINGS) + store.line_texts(ARTICLE_WORDS)
    return [(f"{doc_id}:{article}", text) for doc_id, article, text in lines]


def update_article_model(store: KnowledgeStore, progress: ProgressFn | None = None) -> tuple[str, int]:
    """Train the article model on every stored line and words line, unless they are what the stored
    model was trained on; ("trained" | "unchanged" | "none", the articles it knows)."""
    examples = article_examples(store)
    state = _update_model(
        examples, ARTICLES, store.article_model(), store.save_article_model, ARTICLE_MODEL, progress
    )
    return state, len({a for a, _ in examples}) if state != "none" else 0


def update_absent_model(
    store: KnowledgeStore, progress: ProgressFn | None = None, catalogue: TopicCatalogue | None = None
) -> tuple[str, tuple[int, int]]:
    """Train the absent-law model on the stored statutes' lines and the catalogue's laws not held, unless
    they are what the stored model was trained on; ("trained" | "unchanged" | "none", (held laws, laws not
    held)). Laws against laws: a circular's items (法人税基本通達) are not a held law's rivals, and a best hit
    the model does not know leaves the decision's reading of it out."""
    statutes = {doc_id for doc_id, doc in store.documents().items() if doc.kind in LAW_KINDS}
    lines = [
        line for line in store.line_texts(PHRASINGS) + store.line_texts(ARTICLE_WORDS) if line[0] in statutes
    ]
    entries = (catalogue or TopicCatalogue.load()).entries
    absent = absent_law_lines(entries, (title for title, _ in store.law_titles()))
    examples = absent_model.examples(lines, absent)
    state = _update_model(
        examples, absent_model.RECIPE, store.absent_model(), store.save_absent_model, ABSENT_MODEL, progress
    )
    outputs = {o for o, _ in examples}
    held = sum(o.startswith(absent_model.HELD) for o in outputs)
    return state, (held, len(outputs) - held) if state != "none" else (0, 0)


def _update_model(
    examples: list[tuple[str, str]],
    recipe: Recipe,
    stored: ArticleModel | None,
    save: Callable[[ArticleModel | None], None],
    stage: str,
    progress: ProgressFn | None,
) -> str:
    """Train a model of ``recipe`` on ``examples`` and ``save`` it, unless ``stored`` was trained on them;
    with examples of fewer than two outputs, remove the stored one."""
    if len({a for a, _ in examples}) < 2:
        if stored is not None:
            save(None)
        return "none"
    if stored is not None and stored.digest == digest(examples, recipe):
        return "unchanged"
    passes, done = recipe.passes(len(examples)), 0

    def advance() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(stage, done, passes)

    save(train(examples, recipe, advance=advance))
    return "trained"


def _sync(
    store: KnowledgeStore,
    wanted: dict[str, Phrasing],
    name: str,
    segmenter: Segmenter,
    progress: ProgressFn | None,
) -> tuple[int, int]:
    """Bring one line table to exactly ``wanted``, segmenting only the lines not stored yet."""
    stored = store.line_ids(name)
    new = [p for pid, p in wanted.items() if pid not in stored]
    rows = []
    for n, p in enumerate(new, start=1):
        rows.append(
            {
                "phrase_id": p.phrase_id,
                "doc_id": p.doc_id,
                "article": p.article,
                "text": p.text,
                "origin": p.origin,
                PHRASE_TERMS: segmenter.joined(p.text),
            }
        )
        if progress and (n % 500 == 0 or n == len(new)):
            progress(name, n, len(new))
    return store.sync_lines(rows, keep=set(wanted) & stored, name=name)
