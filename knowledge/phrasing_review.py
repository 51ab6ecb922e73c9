"""What an admin needs to review phrasings: one document's lines as a file, and coverage per document.

``export`` merges a document's lines from every origin (shipped, admin, generated) into the file
format, in the document's article order, each key commented with its label and where the lines
came from; the admin edits it and lists it in the manifest's ``knowledge.phrasings.files``.
``coverage_report`` counts, per stored document, the main-provision articles with lines
(all origins together and per origin), on the definition of ``knowledge.phrasings.coverage``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lancedb.expr import col

from knowledge.phrasing_generation import main_provisions
from knowledge.phrasings import MAX_LINES_PER_ARTICLE, PhrasingFile, coverage, dump_file, is_deleted
from knowledge.store import KnowledgeStore

ORIGINS = ("shipped", "admin", "generated")


@dataclass
class Export:
    text: str  # the file, ready to save
    articles: int
    lines: int
    cut: list[str] = field(default_factory=list)  # article keys with more lines than a file may hold


def export(
    files: Sequence[PhrasingFile],
    doc_id: str,
    *,
    title: str = "",
    order: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
) -> Export | None:
    """``doc_id``'s lines from ``files`` as one phrasing file (None when no file has any).

    ``order`` (the stored article order) and ``labels`` (key → 第一条（目的）) come from the
    knowledge base when the document is stored; otherwise the files' own order is kept.
    """
    mine = [f for f in files if f.doc_id == doc_id]
    if not mine:
        return None
    merged: dict[str, list[str]] = {}
    origins: dict[str, list[str]] = {}
    words: dict[str, str] = {}
    for f in mine:
        words.update(f.words)  # one line per article: a later origin's replaces it, as when indexed
        for key, lines in f.articles.items():
            have = merged.setdefault(key, [])
            have.extend(line for line in lines if line not in have)
            if f.origin not in origins.setdefault(key, []):
                origins[key].append(f.origin)
    rank = {key: n for n, key in enumerate(order)}
    keys = sorted(merged, key=lambda k: rank.get(k, len(rank)))  # stable: unknown keys keep file order
    cut = [k for k in keys if len(merged[k]) > MAX_LINES_PER_ARTICLE]
    articles = {k: merged[k][:MAX_LINES_PER_ARTICLE] for k in keys}
    comments = {k: f"{(labels or {}).get(k, '')} [{', '.join(origins[k])}]".strip() for k in keys}
    title = title or mine[0].title
    used = sorted({f.origin for f in mine}, key=ORIGINS.index)
    header = (
        f"{title} — 職員の言い方（{'・'.join(used)} から書き出し）\n"
        f"staff phrasings exported from: {', '.join(used)}. Edit, save as your own file and list it in\n"
        "the manifest's knowledge.phrasings.files (format: docs/retrieval.md)"
    )
    ordered_words = {k: words[k] for k in sorted(words, key=lambda k: rank.get(k, len(rank)))}
    text = dump_file(doc_id, title, articles, header=header, comments=comments, words=ordered_words)
    return Export(text, len(articles), sum(len(v) for v in articles.values()), cut)


def deleted_articles(store: KnowledgeStore) -> set[tuple[str, str]]:
    """(doc_id, article) of the stored articles whose whole text is 「削除」 (``is_deleted``)."""
    table = store.chunks
    if table is None:
        return set()
    found = table.search().where(col("text").contains("削除")).select(["doc_id", "article", "text"])
    rows = found.limit(None)
    return {(r["doc_id"], r["article"]) for r in rows.to_list() if is_deleted(r["text"])}


@dataclass(frozen=True)
class CoverageLine:
    doc_id: str
    title: str
    kind: str
    articles: int  # main-provision articles stored
    covered: int  # of those, with at least one line (any origin)
    lines: int
    by_origin: Mapping[str, int]  # origin → articles covered by that origin's files
    words: int = 0  # main-provision articles with a line of everyday words (any origin)

    @property
    def share(self) -> float:
        return self.covered / self.articles if self.articles else 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "kind": self.kind,
            "articles": self.articles,
            "covered": self.covered,
            "share": round(self.share, 4),
            "lines": self.lines,
            "words": self.words,
            "by_origin": dict(self.by_origin),
        }


def coverage_report(store: KnowledgeStore, files: Sequence[PhrasingFile]) -> list[CoverageLine]:
    """One line per stored document (Q&A left out), ordered by doc_id; deleted articles (削除) are
    not counted: there is nothing to ask about them."""
    docs = main_provisions(store)
    deleted = deleted_articles(store)
    articles = {
        d.doc_id: (d.title, [k for k in d.order if (d.doc_id, k) not in deleted])
        for d in sorted(docs.values(), key=lambda d: d.doc_id)
    }
    total = coverage(files, articles)
    per_origin = {o: coverage([f for f in files if f.origin == o], articles) for o in ORIGINS}
    out = []
    for n, row in enumerate(total):
        out.append(
            CoverageLine(
                doc_id=row.doc_id,
                title=row.title,
                kind=str(docs[row.doc_id].rows[0]["kind"]),
                articles=row.articles,
                covered=row.covered,
                lines=row.lines,
                by_origin={o: per_origin[o][n].covered for o in ORIGINS},
                words=row.words,
            )
        )
    return out
