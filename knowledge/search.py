"""Search the knowledge base: explicit citations first, then Japanese-aware lexical search.

Every result says whether the evidence is sufficient to answer. The judgement
is deliberately conservative: a wrong citation is worse than no answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from lancedb.query import MatchQuery

from knowledge.settings import SearchSettings
from knowledge.store import (
    BODY_TERMS,
    CAPTION_TERMS,
    CONTEXT_TERMS,
    FTS_COLUMNS,
    KnowledgeStore,
    build_filter,
)
from knowledge.term_stats import TermStats
from knowledge.tokenize import Segmenter, normalize

if TYPE_CHECKING:
    from knowledge.glossary import Expansion, Glossary
    from knowledge.vectors import VectorIndex

log = logging.getLogger(__name__)
Ranked = tuple[dict[str, Any], float, str]  # (row, score, matched_by)

# What ranking reads of the full-text candidates; whole rows are read for the best few only.
_RANKING_FIELDS = ("chunk_id", "part", CAPTION_TERMS, CONTEXT_TERMS, "_score")
# Dense searches run on this thread while the caller runs the lexical query.
_DENSE_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kairan-dense")


@dataclass(frozen=True)
class ArticleRef:
    """An explicit reference found in a question, already resolved to a stored law."""

    doc_id: str
    article: str
    paragraph: int | None = None
    item: int | None = None


class CitationFinder(Protocol):
    def find(self, question: str) -> list[ArticleRef]: ...

    def unknown_laws(self, question: str) -> list[str]:
        """Laws the question names that the knowledge base does not hold."""
        ...


@dataclass(frozen=True)
class SearchHit:
    rank: int
    chunk_id: str
    doc_id: str
    article: str
    title: str
    label: str
    caption: str
    path: str
    kind: str
    collection: str
    url: str
    text: str
    score: float
    matched_by: str  # "citation" | "lexical" | "dense" | "hybrid"
    paragraph: int | None = None
    sha256: str = ""  # of the stored article text: the audit log records which version was cited

    def as_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "doc_id": self.doc_id,
            "article": self.article,
            "title": self.title,
            "label": self.label,
            "caption": self.caption,
            "url": self.url,
            "score": round(self.score, 4),
            "matched_by": self.matched_by,
            "text": self.text,
        }


@dataclass(frozen=True)
class SearchResult:
    query: str
    hits: list[SearchHit]
    sufficient: bool
    reason: str  # why sufficient or not, for logs and the eval error table
    coverage: float = 0.0
    citations: list[ArticleRef] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "sufficient": self.sufficient,
            "reason": self.reason,
            "hits": [h.as_json() for h in self.hits],
        }


class Searcher:
    def __init__(
        self,
        *,
        store: KnowledgeStore,
        segmenter: Segmenter,
        citations: CitationFinder | None = None,
        vectors: VectorIndex | None = None,
        glossary: Glossary | None = None,
        settings: SearchSettings | None = None,
    ) -> None:
        self.store = store
        self.segmenter = segmenter
        self.citations = citations
        self.vectors = vectors
        self.glossary = glossary
        self.settings = settings or SearchSettings()
        self._filled: Any = None  # the chunk table handle last seen holding rows

    @property
    def term_stats(self) -> TermStats:
        return self.store.term_stats()  # reloaded when the store refreshes to a newer ingest

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        collections: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
    ) -> SearchResult:
        self.store.maybe_refresh()  # bounded staleness when another process ingests
        s = self.settings
        text = normalize(query).strip()
        if not text or self._is_empty():
            return SearchResult(query, [], False, "empty query" if not text else "knowledge base is empty")
        where = build_filter(collection=_list(collections), kind=_list(kinds))
        refs = self.citations.find(text) if self.citations else []
        cited = self._cited_rows(refs, collections, kinds)
        query_terms = self.segmenter.query_terms(text, drop_question_words=s.drop_question_words)
        terms = query_terms.terms
        expansions = self.glossary.expand(text) if self.glossary else []
        dense = (  # runs beside the lexical query: LanceDB releases the GIL while it searches
            _DENSE_POOL.submit(self.vectors.search, text, limit=s.candidates, where=where)
            if self.vectors is not None
            else None
        )
        lexical = self._lexical(terms, expansions, where, k + len(cited)) if terms else []
        ranked = self._fuse(lexical, dense.result()) if dense is not None else lexical
        ranked = self._complete(ranked, max(k + len(cited), s.coverage_hits, s.key_hits))
        hits = _merge(cited, ranked, k)
        if cited:
            return SearchResult(query, hits, True, "explicit citation", 1.0, refs)
        coverage = self._coverage(terms, self._covered(terms, expansions, ranked[: s.coverage_hits]))
        key = self._key_noun(terms, query_terms.nouns)
        top = lexical[0][1] if lexical else 0.0
        key_ok = key is not None and key in self._covered([key], expansions, ranked[: s.key_hits])
        key_ok = key_ok or not s.require_key_noun
        missing_laws = self.citations.unknown_laws(text) if self.citations and s.refuse_unknown_laws else []
        sufficient = coverage >= s.min_coverage and top >= s.min_score and key_ok and not missing_laws
        reason = (
            f"coverage {coverage:.2f} (min {s.min_coverage}), top score {top:.1f} (min {s.min_score}), "
            f"key term {key or '-'} {'found' if key_ok else 'not found'}"
        )
        if missing_laws:
            reason = f"not in the knowledge base: {'、'.join(missing_laws)}; {reason}"
        return SearchResult(query, hits, sufficient, reason, coverage, refs)

    # -- parts ----------------------------------------------------------
    def _is_empty(self) -> bool:
        """``store.is_empty()`` without counting rows on every query.

        Counting is a query of its own; once a table handle has rows the answer is kept until
        the store hands out a different handle (a refresh to a newer version, a new ingest).
        """
        table = self.store.chunks
        if table is not None and table is self._filled:
            return False
        empty = self.store.is_empty()
        self._filled = None if empty else table
        return empty

    def _cited_rows(
        self, refs: list[ArticleRef], collections: Sequence[str] | None, kinds: Sequence[str] | None
    ) -> list[tuple[dict[str, Any], float, ArticleRef]]:
        if not refs:
            return []
        rows = self.store.get_articles((r.doc_id, r.article) for r in refs)
        out = []
        for ref in refs:
            row = rows.get((ref.doc_id, ref.article))
            if row is None:
                continue
            if collections and row["collection"] not in collections:
                continue
            if kinds and row["kind"] not in kinds:
                continue
            out.append((row, 1000.0, ref))
        return out

    def _fuse(self, lexical: list[Ranked], dense: list[tuple[str, float]]) -> list[Ranked]:
        """Reciprocal-rank fusion of the lexical and dense rankings, best first (rows still partial)."""
        s = self.settings
        fused: dict[str, float] = {}
        sources: dict[str, set[str]] = {}
        for weight, ranking, name in (
            (1.0, [r["chunk_id"] for r, _, _ in lexical], "lexical"),
            (s.dense_weight, [cid for cid, _ in dense], "dense"),
        ):
            for rank, cid in enumerate(ranking, start=1):
                fused[cid] = fused.get(cid, 0.0) + weight / (s.rrf_k + rank)
                sources.setdefault(cid, set()).add(name)
        order = sorted(fused, key=fused.__getitem__, reverse=True)
        how = {c: "hybrid" if len(sources[c]) == 2 else next(iter(sources[c])) for c in order}
        return [({"chunk_id": c}, fused[c], how[c]) for c in order]

    def _complete(self, ranked: list[Ranked], n: int) -> list[Ranked]:
        """The best ``n`` with their whole rows: candidates are ranked on a few columns and only the
        rows that are shown or judged are read in full (at 1M chunks reading 50 whole rows costs
        more than the full-text query itself)."""
        head = ranked[:n]
        rows = self.store.get_rows([r["chunk_id"] for r, _, _ in head])
        # A vector whose chunk is gone (a sync still pending) has no row: it is skipped.
        return [(rows[r["chunk_id"]], score, how) for r, score, how in head if r["chunk_id"] in rows]

    def _lexical(self, terms: list[str], expansions: list[Expansion], where: Any, k: int) -> list[Ranked]:
        """BM25 over the article bodies, then a bonus for question terms in the 見出し and the context.

        One single-column full-text query: LanceDB prunes it with WAND, while a boolean query
        across columns scores every posting (at 1M chunks p95 530 ms against 50 ms). The caption
        and context (chapter path, law title) are scored on the candidates' own terms: each
        question term found there adds ``field_bonus × boost × idf``.
        """
        s = self.settings
        extra = [t for t in dict.fromkeys(t for e in expansions for t in e.terms) if t not in terms]
        text = " ".join(self._selective(terms) + self._selective(extra))
        reader = self.store.reader
        if reader is None:
            return []
        query = MatchQuery(text, BODY_TERMS)  # type: ignore[call-arg]  # mypy misses Field(kw_only=True)
        rows = reader.full_text(query, _RANKING_FIELDS, where=where, limit=max(k, s.candidates))
        stats = self.term_stats
        weights = {t: stats.idf(t) for t in terms}
        weights.update({t: stats.idf(t) * s.expansion_weight for t in extra})
        parts = dict(s.part_weights)
        scored: list[Ranked] = []
        for row in rows:
            caption, context = set(row[CAPTION_TERMS].split()), set(row[CONTEXT_TERMS].split())
            bonus = s.caption_boost * sum(w for t, w in weights.items() if t in caption)
            bonus += s.context_boost * sum(w for t, w in weights.items() if t in context)
            score = (float(row["_score"]) + s.field_bonus * bonus) * parts.get(row["part"], 1.0)
            scored.append((row, score, "lexical"))
        scored.sort(key=lambda pair: pair[1], reverse=True)
        return scored

    def _selective(self, terms: list[str]) -> list[str]:
        """The terms worth a full-text lookup in a large knowledge base.

        A term in more than ``max_term_df`` of the chunks adds almost nothing to BM25 but has the
        longest posting list; once the store holds ``prune_min_chunks`` chunks such terms are left
        out of the query (the rarest term is always kept). Every term still counts for coverage
        (``_covered`` reads the hits' own terms) and for the caption/context bonus.
        """
        stats, s = self.term_stats, self.settings
        if stats.doc_count < s.prune_min_chunks or not terms:
            return terms
        kept = [t for t in terms if stats.df.get(t, 0) <= s.max_term_df * stats.doc_count]
        return kept or [min(terms, key=lambda t: stats.df.get(t, 0))]

    def _covered(self, terms: list[str], expansions: list[Expansion], top: list[Ranked]) -> set[str]:
        """Question terms found in the best hits, directly or through their statute wording."""
        present: set[str] = set()
        for row, _, _ in top:
            for column in FTS_COLUMNS:
                present.update(row[column].split())
        covered = set(terms) & present
        for e in expansions:
            if present.intersection(e.terms):
                covered.update(e.trigger_terms)
        return covered

    def _coverage(self, terms: list[str], covered: set[str]) -> float:
        """Share of the question's idf mass that the best hits cover."""
        weights = {t: self.term_stats.idf(t) for t in terms}
        total = sum(weights.values())
        return sum(w for t, w in weights.items() if t in covered) / total if total else 0.0

    def _key_noun(self, terms: list[str], nouns: frozenset[str]) -> str | None:
        """The question's most specific concept: its rarest noun that the knowledge base knows.

        Words the corpus never uses (colloquialisms such as 自分) cannot decide; a known but
        rare noun (占用, 返礼品) names the subject, and evidence without it is not evidence.
        """
        known = [t for t in terms if t in nouns and self.term_stats.df.get(t, 0) > 0]
        return max(known, key=self.term_stats.idf, default=None)


def _merge(
    cited: list[tuple[dict[str, Any], float, ArticleRef]],
    ranked: list[Ranked],
    k: int,
) -> list[SearchHit]:
    hits: list[SearchHit] = []
    seen: set[str] = set()
    for row, score, ref in cited:
        if row["chunk_id"] not in seen:
            seen.add(row["chunk_id"])
            hits.append(_hit(len(hits) + 1, row, score, "citation", ref.paragraph))
    for row, score, matched_by in ranked:
        if len(hits) >= k:
            break
        if row["chunk_id"] not in seen:
            seen.add(row["chunk_id"])
            hits.append(_hit(len(hits) + 1, row, score, matched_by))
    return hits[:k] if len(cited) <= k else hits


def _hit(
    rank: int, row: dict[str, Any], score: float, matched_by: str, paragraph: int | None = None
) -> SearchHit:
    url = row["url"]
    if paragraph and "#Mp-At_" in url:
        url = f"{url}-Pr_{paragraph}"
    return SearchHit(
        rank=rank,
        chunk_id=row["chunk_id"],
        doc_id=row["doc_id"],
        article=row["article"],
        title=row["title"],
        label=row["label"],
        caption=row["caption"],
        path=row["path"],
        kind=row["kind"],
        collection=row["collection"],
        url=url,
        text=row["text"],
        score=score,
        matched_by=matched_by,
        paragraph=paragraph,
        sha256=row.get("sha256", ""),
    )


def _list(values: Sequence[str] | None) -> list[str] | None:
    return list(values) if values else None
