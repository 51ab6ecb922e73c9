"""Search the knowledge base: explicit citations first, then Japanese-aware lexical search.

Every result says whether the evidence is sufficient to answer. The judgement
is deliberately conservative: a wrong citation is worse than no answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from lancedb.query import MatchQuery

from knowledge.filters import FieldFilter
from knowledge.law_topics import TopicEvidence
from knowledge.numerals import KANJI_NUMBER_CHARS, int_to_kanji
from knowledge.reader import run_queries, term_query
from knowledge.settings import SearchSettings
from knowledge.store import (
    BODY_TERMS,
    CAPTION_TERMS,
    CONTEXT_TERMS,
    FTS_COLUMNS,
    PHRASE_TERMS,
    KnowledgeStore,
)
from knowledge.sufficiency import Evidence, judge
from knowledge.term_stats import TermStats
from knowledge.tokenize import Segmenter, compound_parts, normalize

if TYPE_CHECKING:
    from knowledge.glossary import Expansion, Glossary
    from knowledge.vectors import VectorIndex

log = logging.getLogger(__name__)
Ranked = tuple[dict[str, Any], float, str]  # (row, score, matched_by)
_ORDER_SUFFIXES = ("施行令", "施行規則")
_FIELD_TERMS_KEPT = 60_000  # articles whose caption/context term sets are kept between questions
# After 「法第二百三十四条」: not 「…の二」 or another digit, which would name a different article.
_NOT_LONGER = f"(?![{KANJI_NUMBER_CHARS}]|の[{KANJI_NUMBER_CHARS}])"

# What ranking reads of the full-text candidates; whole rows are read for the best few only.
_RANKING_FIELDS = ("chunk_id", "doc_id", "part", CAPTION_TERMS, CONTEXT_TERMS, "_score")
# Dense searches run on this thread while the caller runs the lexical query.
_DENSE_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kairan-dense")


@dataclass(frozen=True)
class ArticleRef:
    """An explicit reference found in a question, already resolved to a stored law."""

    doc_id: str
    article: str
    paragraph: int | None = None
    item: int | None = None


class TopicJudge(Protocol):
    def assess(self, question: str, terms: list[str], words: frozenset[int]) -> TopicEvidence: ...


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
    matched_by: str  # "citation" | "delegated" | "lexical" | "phrasing" | "dense" | "hybrid"
    paragraph: int | None = None
    sha256: str = ""  # of the stored article text: the audit log records which version was cited
    phrasing: str = ""  # the staff phrasing line that matched the question, if one did

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
            **({"phrasing": self.phrasing} if self.phrasing else {}),
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
    evidence: Evidence | None = None  # what the sufficiency decision read (None for explicit citations)

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "sufficient": self.sufficient,
            "reason": self.reason,
            "hits": [h.as_json() for h in self.hits],
        }


@dataclass(frozen=True)
class _LexicalQuery:
    body: MatchQuery  # over the article bodies
    phrases: MatchQuery  # over the staff phrasings
    weights: dict[str, float]  # idf per term (statute wording × expansion_weight), for the field bonus


@dataclass(frozen=True)
class Phrased:
    """An article's best staff-phrasing line for a question."""

    score: float
    text: str
    terms: frozenset[str]


@dataclass(frozen=True)
class _Scope:
    """Which collections and kinds a search may return."""

    collections: list[str] | None
    kinds: list[str] | None

    @property
    def filter(self) -> FieldFilter | None:
        return FieldFilter.of(collection=self.collections, kind=self.kinds)

    @property
    def where(self) -> Any:
        """The filter as a LanceDB ``Expr`` (the dense search takes that)."""
        found = self.filter
        return found.expr() if found is not None else None

    def allows(self, row: dict[str, Any]) -> bool:
        return (not self.collections or row["collection"] in self.collections) and (
            not self.kinds or row["kind"] in self.kinds
        )


def _best_lines(lines: list[dict[str, Any]]) -> dict[str, Phrased]:
    """chunk id → the best-scoring phrasing line of that article."""
    best: dict[str, Phrased] = {}
    for line in lines:
        cid = f"{line['doc_id']}#{line['article']}"
        score = float(line["_score"])
        if cid not in best or score > best[cid].score:
            best[cid] = Phrased(score, line["text"], frozenset(line[PHRASE_TERMS].split()))
    return best


class Searcher:
    def __init__(
        self,
        *,
        store: KnowledgeStore,
        segmenter: Segmenter,
        citations: CitationFinder | None = None,
        vectors: VectorIndex | None = None,
        glossary: Glossary | None = None,
        topics: TopicJudge | None = None,
        settings: SearchSettings | None = None,
    ) -> None:
        self.store = store
        self.topics = topics
        self.segmenter = segmenter
        self.citations = citations
        self.vectors = vectors
        self.glossary = glossary
        self.settings = settings or SearchSettings()
        self._filled: Any = None  # the chunk table handle last seen holding rows
        self._orders_of: dict[str, list[str]] | None = None
        self._fields: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        self._fields_generation = -1
        self._orders_generation = -1

    def warm(self) -> None:
        """Do the first question's one-off work now (read the rows, build the in-memory indexes,
        the topic catalogue): a server calls this at start-up so no staff question waits for it."""
        self.search("地方公共団体の事務", k=1)

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
        scope = _Scope(_list(collections), _list(kinds))
        where = scope.where
        refs = self.citations.find(text) if self.citations else []
        cited = self._cited_rows(refs, scope)
        delegated = self._delegated(cited, scope)
        query_terms = self.segmenter.query_terms(text, drop_question_words=s.drop_question_words)
        terms = query_terms.terms
        expansions = self.glossary.expand(text) if self.glossary else []
        dense = (  # runs beside the lexical query: LanceDB releases the GIL while it searches
            _DENSE_POOL.submit(self.vectors.search, text, limit=s.candidates, where=where)
            if self.vectors is not None
            else None
        )
        asked = query_terms.asked if s.phrasing_question_words else terms
        lex = self._lexical_query(terms, expansions, asked)
        lexical, phrased = self._lexical(lex, scope.filter, k + len(cited)) if terms else ([], {})
        topic = self.topics.assess(text, terms, query_terms.words) if self.topics and terms else None
        lexical_ranked = self._with_phrasings(lexical, phrased, scope, self._named_laws(topic))
        ranked = self._fuse(lexical_ranked, dense.result()) if dense is not None else lexical_ranked
        ranked = self._complete(ranked, max(k + len(cited), s.coverage_hits, s.key_hits))
        hits = _merge(cited, delegated, ranked, k, phrased)
        if cited:
            return SearchResult(query, hits, True, "explicit citation", 1.0, refs)
        evidence = self._evidence(text, terms, query_terms.nouns, expansions, lexical, phrased, ranked, topic)
        judgement = judge(evidence, s)
        return SearchResult(
            query, hits, judgement.sufficient, judgement.reason, evidence.coverage, refs, evidence
        )

    def _evidence(
        self,
        text: str,
        terms: list[str],
        nouns: frozenset[str],
        expansions: list[Expansion],
        lexical: list[Ranked],
        phrased: dict[str, Phrased],
        ranked: list[Ranked],
        topic: TopicEvidence | None,
    ) -> Evidence:
        s = self.settings
        best = ranked[: s.coverage_hits]
        hit_terms = _terms_of_hits(ranked[: max(s.coverage_hits, s.key_hits)], phrased)
        covered = self._covered(terms, expansions, _present(hit_terms[: s.coverage_hits]))
        coverage = self._coverage(terms, covered)
        top_covered = self._covered(terms, expansions, _present(hit_terms[:1]))
        coverage_top = self._coverage(terms, top_covered)
        question_nouns = [t for t in terms if t in nouns]
        nouns_top = self._coverage(question_nouns, top_covered) if question_nouns else coverage_top
        top_line = phrased.get(best[0][0]["chunk_id"]) if best else None
        phrase_coverage = (
            self._coverage(terms, self._covered(terms, expansions, set(top_line.terms))) if top_line else 0.0
        )
        key = self._key_noun(terms, nouns)
        key_present = _present(hit_terms[: s.key_hits])
        key_found = key is not None and key in self._covered([key], expansions, key_present)
        agreement = False
        if best:
            top_id = best[0][0]["chunk_id"]
            body_top = [row["chunk_id"] for row, _, _ in lexical[: s.agreement_rank]]
            phrase_top = sorted(phrased, key=lambda c: phrased[c].score, reverse=True)[: s.agreement_rank]
            agreement = top_id in body_top and top_id in phrase_top
        unknown = self.citations.unknown_laws(text) if self.citations and s.refuse_unknown_laws else []
        return Evidence(
            phrased=self._has_phrasings(best[0][0]["chunk_id"], phrased) if best else False,
            coverage=coverage,
            coverage_top=coverage_top,
            nouns_top=nouns_top,
            phrase_coverage=phrase_coverage,
            top_body=lexical[0][1] if lexical else 0.0,
            top_phrase=max((p.score for p in phrased.values()), default=0.0),
            key_term=key,
            key_found=key_found or not s.require_key_noun,
            agreement=agreement,
            unknown_laws=tuple(unknown),
            mentioned_laws=topic.mentioned if topic else (),
            foreign_law=topic.foreign_law if topic else None,
            foreign_score=topic.foreign_score if topic else 0.0,
            own_topic_score=topic.own_score if topic else 0.0,
        )

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
        self, refs: list[ArticleRef], scope: _Scope
    ) -> list[tuple[dict[str, Any], float, ArticleRef]]:
        if not refs:
            return []
        rows = self.store.get_articles((r.doc_id, r.article) for r in refs)
        return [
            (row, 1000.0, ref)
            for ref in refs
            if (row := rows.get((ref.doc_id, ref.article))) is not None and scope.allows(row)
        ]

    def _delegated(
        self, cited: list[tuple[dict[str, Any], float, ArticleRef]], scope: _Scope
    ) -> list[dict[str, Any]]:
        """The provisions a cited act article delegates to: articles of its 施行令 / 施行規則 that
        refer to it (「法第二百三十四条第二項の規定により…」), paragraph-specific ones first."""
        reader = self.store.reader
        if not cited or reader is None:
            return []
        orders = self._orders()
        out: list[dict[str, Any]] = []
        seen = {row["chunk_id"] for row, _, _ in cited}
        for row, _, ref in cited:
            found: list[dict[str, Any]] = []
            for order_id in orders.get(row["title"], ()):
                mention = re.compile("法" + re.escape(row["label"]) + _NOT_LONGER)
                rows = [
                    r
                    for r in reader.rows_containing(order_id, "法" + row["label"])
                    if r["part"] == "main" and mention.search(r["text"]) and scope.allows(r)
                ]
                if ref.paragraph:
                    paragraph = f"法{row['label']}第{int_to_kanji(ref.paragraph)}項"
                    rows = [r for r in rows if paragraph in r["text"]] + [
                        r for r in rows if paragraph not in r["text"]
                    ]
                found.extend(rows)
            for r in found[: self.settings.delegated_per_citation]:
                if r["chunk_id"] not in seen:
                    seen.add(r["chunk_id"])
                    out.append(r)
        return out

    def _orders(self) -> dict[str, list[str]]:
        """Act title → doc ids of its cabinet order and ministerial rules in the store (per ingest)."""
        if self._orders_of is None or self._orders_generation != self.store.generation:
            titles = self.store.law_titles()
            by_title = dict(titles)
            self._orders_of = {
                title: [by_title[title + suffix] for suffix in _ORDER_SUFFIXES if title + suffix in by_title]
                for title, _ in titles
            }
            self._orders_generation = self.store.generation
        return self._orders_of

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

    def _lexical(
        self, query: _LexicalQuery, where: FieldFilter | None, k: int
    ) -> tuple[list[Ranked], dict[str, Phrased]]:
        """The article ranking and the phrasing matches, from one round of full-text queries.

        BM25 over the article bodies, then a bonus for question terms in the 見出し and the
        context. One single-column query per field: LanceDB prunes it with WAND, while a boolean
        query across columns scores every posting (at 1M chunks p95 530 ms against 50 ms). The
        caption and context (chapter path, law title) are scored on the candidates' own terms:
        each question term found there adds ``field_bonus × boost × idf``. The staff phrasings
        are searched beside it (knowledge/phrasings.py); the best line counts for its article.
        """
        s = self.settings
        reader = self.store.reader
        if reader is None:
            return [], {}
        limit = max(k, s.candidates)
        pending = [reader.full_text_query(query.body, _RANKING_FIELDS, where=where, limit=limit)]
        phrase_reader = self.store.phrase_reader if s.phrasing_weight > 0 else None
        if phrase_reader is not None:
            pending.append(phrase_reader.full_text_query(query.phrases, limit=s.phrase_candidates))
        found = run_queries(*pending)
        ranked = self._score_body(found[0], query.weights)
        return ranked, _best_lines(found[1]) if len(found) > 1 else {}

    def _score_body(self, rows: list[dict[str, Any]], weights: dict[str, float]) -> list[Ranked]:
        s = self.settings
        parts = dict(s.part_weights)
        keys = frozenset(weights)
        scored: list[Ranked] = []
        caption_bonus, context_bonus = s.field_bonus * s.caption_boost, s.field_bonus * s.context_boost
        for row in rows:
            caption, context = self._field_terms(row)
            score = float(row["_score"])
            if not caption.isdisjoint(keys):  # usually not: nothing to add up
                score += caption_bonus * sum(weights[t] for t in caption & keys)
            if not context.isdisjoint(keys):
                score += context_bonus * sum(weights[t] for t in context & keys)
            scored.append((row, score * parts.get(row["part"], 1.0), "lexical"))
        scored.sort(key=lambda pair: pair[1], reverse=True)
        return scored

    def _has_phrasings(self, chunk_id: str, phrased: dict[str, Phrased]) -> bool:
        """Whether the article has staff phrasings at all (matched or not): the decision weighs a hit
        without any (an admin's document, a notice) on its text alone."""
        if self.settings.phrasing_weight <= 0:
            return False
        reader = self.store.phrase_reader
        known = reader.has_lines(chunk_id) if reader is not None else False
        return chunk_id in phrased if known is None else known

    def _named_laws(self, topic: TopicEvidence | None) -> tuple[str, ...]:
        """Laws the question is about by the topic catalogue: those whose topic words it names, and
        those whose catalogue lines match it nearly as well as the best held law's (≥ route_min)."""
        if topic is None:
            return ()
        s = self.settings
        best = max(topic.held_scores.values(), default=0.0)
        routed = [
            doc
            for doc, score in topic.held_scores.items()
            if best >= s.route_min and score >= s.route_share * best
        ]
        return tuple(dict.fromkeys([*topic.held_docs, *routed]))

    def _field_terms(self, row: dict[str, Any]) -> tuple[frozenset[str], frozenset[str]]:
        """The caption's and the context's terms as sets, kept per article (every question reads
        them for each of its candidates); forgotten when the store moves to a newer version."""
        if self._fields_generation != self.store.generation:
            self._fields.clear()
            self._fields_generation = self.store.generation
        found = self._fields.get(row["chunk_id"])
        if found is None:
            if len(self._fields) >= _FIELD_TERMS_KEPT:
                self._fields.clear()
            found = (frozenset(row[CAPTION_TERMS].split()), frozenset(row[CONTEXT_TERMS].split()))
            self._fields[row["chunk_id"]] = found
        return found

    def _with_phrasings(
        self,
        lexical: list[Ranked],
        phrased: dict[str, Phrased],
        scope: _Scope,
        named_laws: Sequence[str] = (),
    ) -> list[Ranked]:
        """Articles ranked on body score + ``phrasing_weight`` × their best phrasing line's score.

        An article found only through its phrasings was not among the body candidates, so its
        body score is at most the last candidate's: it counts as ``unseen_body_share`` of that.
        Its row decides whether the scope allows it (another tenant's collection drops out).
        Articles of a law whose subject the question names (マイナンバー → 番号法, from the topic
        catalogue) count ``1 + topic_boost`` times.
        """
        if not phrased and not named_laws:
            return lexical
        s = self.settings
        body = {row["chunk_id"]: (row, score) for row, score, _ in lexical}
        floor = lexical[-1][1] * s.unseen_body_share if lexical else 0.0
        missing = [cid for cid in phrased if cid not in body]
        for cid, row in self.store.get_rows(missing).items():
            if scope.allows(row):
                body[cid] = (row, floor)
        fused: list[Ranked] = []
        named = set(named_laws)
        for cid, (row, score) in body.items():
            match = phrased.get(cid)
            lift = s.phrasing_weight * match.score if match else 0.0
            total = (score + lift) * (1 + s.topic_boost if row["doc_id"] in named else 1.0)
            fused.append((row, total, "phrasing" if lift > score else "lexical"))
        fused.sort(key=lambda item: item[1], reverse=True)
        return fused

    def _lexical_query(
        self, terms: list[str], expansions: list[Expansion], phrase_terms: list[str] | None = None
    ) -> _LexicalQuery:
        """The full-text queries: the article texts for the question's terms and their glossary statute
        wording; the staff phrasings for ``phrase_terms`` (default ``terms``) alone. The phrasings are
        in staff words already, and a statute word for a common one (市役所 → 地方公共団体) only meets
        the lines that describe the law's general provisions."""
        s, stats = self.settings, self.term_stats
        extra = [t for t in dict.fromkeys(t for e in expansions for t in e.terms) if t not in terms]
        weights = {t: stats.idf(t) for t in terms}
        weights.update({t: stats.idf(t) * s.expansion_weight for t in extra})
        phrase_terms = terms if phrase_terms is None else phrase_terms
        parts = compound_parts([*terms, *extra, *phrase_terms])
        return _LexicalQuery(
            body=self._match(self._selective(terms) + self._selective(extra), parts, BODY_TERMS),
            phrases=self._match(phrase_terms, parts, PHRASE_TERMS),
            weights=weights,
        )

    def _match(self, terms: list[str], parts: frozenset[str], column: str) -> MatchQuery:
        """The query for ``terms``; a compound's parts (有権 and 者 beside 有権者) count
        ``compound_part_weight``, so one compound does not outweigh two plain words."""
        whole = [t for t in terms if t not in parts]
        return term_query(
            [(whole, 1.0), ([t for t in terms if t in parts], self.settings.compound_part_weight)], column
        )

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

    @staticmethod
    def _covered(terms: list[str], expansions: list[Expansion], present: set[str]) -> set[str]:
        """Question terms among ``present``, directly or through their statute wording."""
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


def _terms_of_hits(top: list[Ranked], phrased: dict[str, Phrased]) -> list[frozenset[str]]:
    """Every term of each hit: text, caption, context and its matched phrasing line (each hit's
    columns are split once, though coverage, the best hit and the key noun each read them)."""
    found = []
    for row, _, _ in top:
        terms: set[str] = set()
        for column in FTS_COLUMNS:
            terms.update(row[column].split())
        line = phrased.get(row["chunk_id"])
        if line is not None:
            terms.update(line.terms)
        found.append(frozenset(terms))
    return found


def _present(hits: list[frozenset[str]]) -> set[str]:
    """The terms of the given hits together."""
    return set().union(*hits)


def _merge(
    cited: list[tuple[dict[str, Any], float, ArticleRef]],
    delegated: list[dict[str, Any]],
    ranked: list[Ranked],
    k: int,
    phrased: dict[str, Phrased],
) -> list[SearchHit]:
    """Every cited article first (even beyond ``k``), then what they delegate to, then the ranking,
    up to ``k`` hits in all."""
    hits: list[SearchHit] = []
    seen: set[str] = set()
    for row, score, ref in cited:
        if row["chunk_id"] not in seen:
            seen.add(row["chunk_id"])
            hits.append(_hit(len(hits) + 1, row, score, "citation", ref.paragraph))
    for row in delegated:
        if len(hits) >= k:
            break
        if row["chunk_id"] not in seen:
            seen.add(row["chunk_id"])
            hits.append(_hit(len(hits) + 1, row, 999.0, "delegated"))
    for row, score, matched_by in ranked:
        if len(hits) >= k:
            break
        if row["chunk_id"] not in seen:
            seen.add(row["chunk_id"])
            line = phrased.get(row["chunk_id"])
            hits.append(_hit(len(hits) + 1, row, score, matched_by, phrasing=line.text if line else ""))
    return hits


def _hit(
    rank: int,
    row: dict[str, Any],
    score: float,
    matched_by: str,
    paragraph: int | None = None,
    phrasing: str = "",
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
        phrasing=phrasing,
    )


def _list(values: Sequence[str] | None) -> list[str] | None:
    return list(values) if values else None
