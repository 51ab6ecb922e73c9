"""Search the knowledge base: explicit citations first, then Japanese-aware lexical search.

Every result says whether the evidence is sufficient to answer. The judgement
is deliberately conservative: a wrong citation is worse than no answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from lancedb.query import MatchQuery

from knowledge.article_model import ArticleReading
from knowledge.asides import without_asides
from knowledge.aspects import Aspect, Aspects
from knowledge.chunks import chunk_id
from knowledge.coverage import Coverage
from knowledge.documents import Part
from knowledge.filters import FieldFilter
from knowledge.law_names import provided_for
from knowledge.law_topics import TopicEvidence
from knowledge.national_scope import answered_locally, packaged_scopes
from knowledge.numerals import ARTICLE_NUM, KANJI_NUMBER_CHARS, int_to_kanji, num_to_article_title
from knowledge.pleasantries import strip_courtesy
from knowledge.reader import run_queries, term_query
from knowledge.rerank import FEATURES, Candidates, Question, Reordered, features, reorder
from knowledge.settings import SearchSettings
from knowledge.store import (
    BODY_TERMS,
    CAPTION_TERMS,
    CONTEXT_TERMS,
    FTS_COLUMNS,
    PHRASE_TERMS,
    KnowledgeStore,
)
from knowledge.sufficiency import Evidence, judge, likely_absent_laws
from knowledge.term_stats import TermStats
from knowledge.tokenize import QueryTerms, Segmenter, WordBounds, compound_parts, normalize_question

if TYPE_CHECKING:
    from knowledge.glossary import Expansion, Glossary
    from knowledge.jargon import Jargon
    from knowledge.vectors import VectorIndex

log = logging.getLogger(__name__)
T = TypeVar("T")
Ranked = tuple[dict[str, Any], float, str]  # (row, score, matched_by)
_NOT_PLACED = Reordered([], 0.0)  # the second stage did not place the best hit
_FieldTerms = tuple[frozenset[str], frozenset[str], frozenset[str]]  # caption, context, both
_ORDER_SUFFIXES = ("施行令", "施行規則")
_FIELD_TERMS_KEPT = 60_000  # articles whose term sets are kept between questions
_BLANK = re.compile(r"\[\s*[^\[\]\s][^\[\]\n]{0,19}\]")  # ［氏名］ after NFKC: a placeholder, not content
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
    title: str = ""  # the law's title, for telling staff which article was not found

    @property
    def label(self) -> str:
        """地方自治法第二百四十二条の二 (法人税基本通達 1-1-4 for a circular's item): as staff read it."""
        if ARTICLE_NUM.fullmatch(self.article):
            return self.title + num_to_article_title(self.article)
        return f"{self.title} {self.article}"


def question_text(query: str) -> str:
    """What is searched for: the query normalised (knowledge/tokenize.py), without blanks in square
    brackets and without the chat courtesies around it (knowledge/pleasantries.py).

    A blank is what stands in for something left out — the redaction's placeholders (［氏名］, ［住所］,
    ［個人番号］: bot/redaction) or a template's (［団体名］) — and its word is not what is asked: read as
    one, ［住所］ and ［生年月日］ drew questions to the 住民票's articles and ［個人番号］ to 番号法."""
    return strip_courtesy(_BLANK.sub("", normalize_question(query)))


class TopicJudge(Protocol):
    def assess(
        self,
        question: str,
        terms: list[str],
        words: WordBounds,
        collections: Sequence[str] | None = None,
        *,
        learned: bool = True,
    ) -> TopicEvidence: ...

    def names_subject(self, text: str, words: WordBounds) -> bool:
        """Whether ``text`` names a subject of any law the catalogue knows (held or not)."""
        ...


class CitationFinder(Protocol):
    def find(self, question: str, collections: Sequence[str] | None = None) -> list[ArticleRef]:
        """The articles the question cites, of the laws ``collections`` hold (None: every collection)."""
        ...

    def unknown_laws(self, question: str, collections: Sequence[str] | None = None) -> list[str]:
        """Laws the question names that ``collections`` of the knowledge base do not hold."""
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
    matched_by: str  # "citation" | "delegated" | "lexical" | "phrasing" | "learned" | "dense" | "hybrid"
    paragraph: int | None = None
    sha256: str = ""  # of the stored article text: the audit log records which version was cited
    phrasing: str = ""  # the staff phrasing line that matched the question, if one did
    # The second stage's probability of this article over its best's (None: the stage did not weigh it).
    likelihood: float | None = None

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
    # Laws the question is about that the knowledge base does not hold: by title, or by two of their subjects.
    absent_laws: tuple[str, ...] = ()
    # Sentences of the question that say nothing of it, set aside before judging (knowledge/asides.py).
    asides: tuple[str, ...] = ()
    confidence: float = 0.0  # the calibrated decision's score (0 where a rule decided or nothing was judged)

    @property
    def possible_laws(self) -> tuple[str, ...]:
        """Laws not held that an unanswered question may be about: it names one of their topics and none
        of a held law's (the catalogue's ``mentioned``; ``likely_absent_laws`` picks the ones it reads as);
        named to staff beside the articles looked at."""
        if self.sufficient or self.absent_laws or self.evidence is None:
            return ()
        return likely_absent_laws(self.evidence)

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "sufficient": self.sufficient,
            "reason": self.reason,
            **({"asides": list(self.asides)} if self.asides else {}),
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
    indexed: str  # the line's search terms as stored, space-separated
    lines: int = 1  # how many of the article's lines the question's phrasing query found

    @cached_property
    def terms(self) -> frozenset[str]:
        """The line's search terms (split only for the few hits that are measured)."""
        return frozenset(self.indexed.split())


@dataclass(frozen=True)
class _FirstStage:
    """The full-text round: the article ranking, the phrasing matches and what the catalogue says."""

    lexical: list[Ranked]  # on the article text alone
    phrased: dict[str, Phrased]
    topic: TopicEvidence | None
    ranked: list[Ranked]  # on text and phrasings together (rows partial past the best few)
    aspects: tuple[Aspect, ...] = ()  # what the question asks about (knowledge/aspects.py)
    learned_articles: ArticleReading | None = None  # what the article model makes of the question
    depth: int = 0  # how many of ``ranked`` the second stage weighs


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
    """chunk id → the best-scoring phrasing line of that article (and how many of its lines came)."""
    best: dict[str, dict[str, Any]] = {}
    found: dict[str, int] = {}
    for line in lines:
        cid = chunk_id(line["doc_id"], line["article"])
        found[cid] = found.get(cid, 0) + 1
        if cid not in best or line["_score"] > best[cid]["_score"]:
            best[cid] = line
    return {
        cid: Phrased(float(line["_score"]), line["text"], line[PHRASE_TERMS], found[cid])
        for cid, line in best.items()
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
        topics: TopicJudge | None = None,
        aspects: Aspects | None = None,
        jargon: Jargon | None = None,
        settings: SearchSettings | None = None,
    ) -> None:
        self.store = store
        self.topics = topics
        self.aspects = aspects
        self.segmenter = segmenter
        self.citations = citations
        self.vectors = vectors
        self.glossary = glossary
        self.jargon = jargon
        self.settings = settings or SearchSettings()
        self._filled: Any = None  # the chunk table handle last seen holding rows
        self._orders_of: dict[str, list[str]] | None = None
        self._fields: _PerArticle[_FieldTerms] = _PerArticle()
        self._texts: _PerArticle[frozenset[str]] = _PerArticle()  # every term of text, caption, context
        # … and of all its phrasing lines (False: it has none)
        self._described: _PerArticle[tuple[frozenset[str], bool]] = _PerArticle()
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
        text = self._question_text(query)
        if not text or self._is_empty():
            return SearchResult(query, [], False, "empty query" if not text else "knowledge base is empty")
        scope = _Scope(_list(collections), _list(kinds))
        return self._search(query, text, k, scope, asides_known=not self.settings.set_asides_aside)

    def _search(self, query: str, text: str, k: int, scope: _Scope, *, asides_known: bool) -> SearchResult:
        """``search`` on ``text`` (the query as ``_question_text`` reads it); once more without the sentences
        that say nothing of the question (knowledge/asides.py) when the best hits show some, unless
        ``asides_known``."""
        s = self.settings
        where = scope.where
        refs = self.citations.find(text, scope.collections) if self.citations else []
        cited = self._cited_rows(refs, scope)
        delegated = self._delegated(cited, scope)
        query_terms, expansions = self._question(text)
        terms = query_terms.terms
        dense = (  # runs beside the lexical query: LanceDB releases the GIL while it searches
            _DENSE_POOL.submit(self.vectors.search, text, limit=s.candidates, where=where)
            if self.vectors is not None
            else None
        )
        first = self._first_stage(text, query_terms, expansions, scope, k + len(cited))
        measure = Coverage(terms, expansions, self.term_stats.idf)
        lexical_ranked, placed, likelihood = self._rerank(first, measure)
        ranked = self._fuse(lexical_ranked, dense.result()) if dense is not None else lexical_ranked
        ranked = self._complete(ranked, max(k + len(cited), s.coverage_hits, s.key_hits))
        hits = _merge(cited, delegated, ranked, k, first.phrased, likelihood)
        if cited:
            return SearchResult(query, hits, True, "explicit citation", 1.0, refs)
        if not asides_known and not refs:  # a sentence citing an article is never an aside
            kept, asides = without_asides(text, self._aside_test(ranked))
            if asides and self.segmenter.query_terms(kept).terms:  # never leave only 「どうすればいい？」
                return replace(self._search(query, kept, k, scope, asides_known=True), asides=asides)
        evidence = self._evidence(text, terms, query_terms.nouns, measure, first, ranked, placed, scope)
        if refs:  # it cites articles of held laws, none of which is there to search: no basis
            missing = ", ".join(f"{r.doc_id}:{r.article}" for r in refs)
            return SearchResult(
                query, hits, False, f"cited article not found: {missing}", evidence.coverage, refs, evidence
            )
        if not ranked:  # nothing matched: no basis, whatever the calibrated score makes of empty evidence
            return SearchResult(query, hits, False, "nothing matched", 0.0, refs, evidence)
        judgement = judge(evidence, s)
        return SearchResult(
            query,
            hits,
            judgement.sufficient,
            judgement.reason,
            evidence.coverage,
            refs,
            evidence,
            judgement.absent_laws,
            confidence=judgement.confidence,
        )

    def rerank_inputs(self, query: str) -> list[tuple[str, dict[str, float] | None]]:
        """("doc_id:article", second-stage inputs) of the best ``rerank_depth`` articles in the first
        stage's order, the inputs None for those the stage does not move: what ``benchmarks/rerank.py``
        fits the weights on."""
        text = self._question_text(query)
        if not text or self._is_empty():
            return []
        query_terms, expansions = self._question(text)
        first = self._first_stage(text, query_terms, expansions, _Scope(None, None), 1)
        measure = Coverage(query_terms.terms, expansions, self.term_stats.idf)
        head, slots, candidates, question = self._second_stage_inputs(first, measure)
        values = dict(zip(slots, features(candidates, question), strict=True))
        return [
            (
                f"{row['doc_id']}:{row['article']}",
                dict(zip(FEATURES, values[n], strict=True)) if n in values else None,
            )
            for n, (row, _, _) in enumerate(head)
        ]

    def _question_text(self, query: str) -> str:
        """``question_text`` with the staff abbreviations read as their full form (knowledge/jargon.py)."""
        text = question_text(query)
        return self.jargon.expand(text) if self.jargon is not None else text

    def _question(self, text: str) -> tuple[QueryTerms, list[Expansion]]:
        """The question's terms (one Sudachi pass) and the glossary's statute wording for them."""
        query_terms = self.segmenter.query_terms(text, drop_question_words=self.settings.drop_question_words)
        return query_terms, self.glossary.expand(text) if self.glossary else []

    def _first_stage(
        self, text: str, query_terms: QueryTerms, expansions: list[Expansion], scope: _Scope, k: int
    ) -> _FirstStage:
        s, terms = self.settings, query_terms.terms
        asked = query_terms.asked if s.phrasing_question_words else terms
        lex = self._lexical_query(terms, expansions, asked)
        lexical, phrased = self._lexical(lex, scope.filter, k) if terms else ([], {})
        topics = self.topics if terms else None
        topic = (
            topics.assess(text, terms, query_terms.words, scope.collections, learned=s.absent_model)
            if topics
            else None
        )
        ranked = self._with_phrasings(lexical, phrased, scope, self._named_laws(topic))
        aspects = self.aspects.asked(text) if self.aspects else ()
        model = self.store.article_model() if s.article_model else None
        learned = model.read(text) if model is not None else None
        ranked, depth = self._with_learned(ranked, learned, scope)
        return _FirstStage(lexical, phrased, topic, ranked, aspects, learned, depth)

    def _with_learned(
        self, ranked: list[Ranked], learned: ArticleReading | None, scope: _Scope
    ) -> tuple[list[Ranked], int]:
        """``ranked`` with the article model's most probable articles that its best ``rerank_depth``
        lack placed right after them, and how many the second stage weighs: a question that describes
        what it asks in words no line or text of the article uses (「紙で警告して期限を切る手続」 for 戒告)
        is often read right by the model, trained on every article's lines, when neither full-text query
        finds the article. Like an article found through its phrasings alone, each scores
        ``unseen_body_share`` of the last candidate's score; the second stage decides where it goes."""
        s = self.settings
        depth = min(s.rerank_depth, len(ranked))
        if learned is None or s.learned_candidates <= 0 or depth < 2:
            return ranked, depth
        head = ranked[:depth]
        held = {row["chunk_id"] for row, _, _ in head}
        probable = (chunk_id(*a.split(":", 1)) for a in learned.most_probable(depth + s.learned_candidates))
        wanted = [cid for cid in probable if cid not in held][: s.learned_candidates]
        rows = self.store.get_rows(wanted)
        extra = [rows[cid] for cid in wanted if cid in rows and scope.allows(rows[cid])]
        if not extra:
            return ranked, depth
        score = head[-1][1] * s.unseen_body_share
        added = {row["chunk_id"] for row in extra}
        rest = [item for item in ranked[depth:] if item[0]["chunk_id"] not in added]
        return [*head, *((row, score, "learned") for row in extra), *rest], depth + len(extra)

    def _rerank(
        self, first: _FirstStage, measure: Coverage
    ) -> tuple[list[Ranked], Reordered, dict[str, float]]:
        """The articles with staff phrasings among the best ``rerank_depth`` re-ordered by the second
        stage (knowledge/rerank.py), each into one of their places; a document without phrasings (an
        admin's 例規, a notice) keeps the place its text earned, since the stage weighs what only phrased
        articles have. Also what the stage says of the best hit (its confidence and coverage, for the
        decision), or ``_NOT_PLACED`` when the stage did not place it; and each article it weighed (by
        chunk id) with its probability over the stage's best (what an answer shows beside the best)."""
        depth = min(first.depth, len(first.ranked))
        if depth < 2:
            return first.ranked, _NOT_PLACED, {}
        head, slots, candidates, question = self._second_stage_inputs(first, measure)
        if len(slots) < 2:
            return head + first.ranked[depth:], _NOT_PLACED, {}
        found = reorder(candidates, question, self.settings.rerank_weights)
        placed = list(head)
        for slot, index in zip(slots, found.order, strict=True):
            placed[slot] = head[slots[index]]
        likelihood = {head[slot][0]["chunk_id"]: p for slot, p in zip(slots, found.likelihood, strict=True)}
        return placed + first.ranked[depth:], found if slots[0] == 0 else _NOT_PLACED, likelihood

    def _second_stage_inputs(
        self, first: _FirstStage, measure: Coverage
    ) -> tuple[list[Ranked], list[int], Candidates, Question]:
        """The best ``rerank_depth`` articles (whole rows), the places of those the stage moves, their
        measures and what the question brings."""
        head = self._complete(first.ranked, first.depth)
        slots, candidates = self._candidates(head, first)
        topic = first.topic
        question = Question(
            coverage=measure,
            law_scores=topic.held_scores if topic else {},
            named_laws=frozenset(topic.held_docs) if topic else frozenset(),
            aspects=first.aspects,
            learned_articles=first.learned_articles,
        )
        return head, slots, candidates, question

    def _candidates(self, head: list[Ranked], first: _FirstStage) -> tuple[list[int], Candidates]:
        """The places in ``head`` of the articles with staff phrasings, and those articles' measures."""
        described = self._descriptions(head)
        slots = [n for n, d in enumerate(described) if d is not None]
        rows = [head[n][0] for n in slots]
        body_rank = {row["chunk_id"]: n for n, (row, _, _) in enumerate(first.lexical)}
        phrase_rank = {cid: n for n, cid in enumerate(_by_line_score(first.phrased))}
        lines = [first.phrased.get(row["chunk_id"]) for row in rows]
        return slots, Candidates(
            doc_ids=[row["doc_id"] for row in rows],
            articles=[f"{row['doc_id']}:{row['article']}" for row in rows],
            scores=[head[n][1] for n in slots],
            phrases=[line.score if line else 0.0 for line in lines],
            lines=[line.lines if line else 0 for line in lines],
            body_ranks=[body_rank.get(row["chunk_id"]) for row in rows],
            phrase_ranks=[phrase_rank.get(row["chunk_id"]) for row in rows],
            described=[d for d in described if d is not None],
            field_terms=[self._field_terms(row)[2] for row in rows],
        )

    def _descriptions(self, head: list[Ranked]) -> list[frozenset[str] | None]:
        """Every term of each article's text, caption, context, all its phrasing lines and its everyday
        words; None for an article without lines (kept per article: the best of one question are often
        the next's)."""
        reader = self.store.phrase_reader if self.settings.phrasing_weight > 0 else None
        if reader is None:
            return [None] * len(head)
        generation = (self.store.generation, self.settings.article_words)  # an ablation may switch them
        kept = [self._described.get(row["chunk_id"], generation) for row, _, _ in head]
        missing = [row["chunk_id"] for (row, _, _), k in zip(head, kept, strict=True) if k is None]
        lines = reader.vocabulary(missing) if missing else {}
        words_reader = self.store.words_reader if missing and self.settings.article_words else None
        words = words_reader.vocabulary(missing) if words_reader is not None else {}
        found: list[frozenset[str] | None] = []
        for (row, _, _), described in zip(head, kept, strict=True):
            if described is None:
                cid = row["chunk_id"]
                own = lines.get(cid)
                everyday = words.get(cid, frozenset())
                described = (self._text_terms(row) | own | everyday, True) if own else (frozenset(), False)
                self._described.put(cid, described)
            found.append(described[0] if described[1] else None)
        return found

    def _evidence(
        self,
        text: str,
        terms: list[str],
        nouns: frozenset[str],
        measure: Coverage,
        first: _FirstStage,
        ranked: list[Ranked],
        placed: Reordered,
        scope: _Scope,
    ) -> Evidence:
        s = self.settings
        lexical, phrased, topic = first.lexical, first.phrased, first.topic
        best = ranked[: s.coverage_hits]
        hit_terms = self._terms_of_hits(ranked[: max(s.coverage_hits, s.key_hits)], phrased)
        share = measure.share(_present(hit_terms[: s.coverage_hits]))
        top_covered = measure.found(_present(hit_terms[:1]))
        coverage_top = measure.part(top_covered)
        question_nouns = [t for t in terms if t in nouns]
        nouns_top = measure.part(top_covered, question_nouns) if question_nouns else coverage_top
        top_line = phrased.get(best[0][0]["chunk_id"]) if best else None
        phrase_coverage = measure.share(top_line.terms) if top_line else 0.0
        key = self._key_noun(terms, nouns)
        key_found = key is not None and key in measure.found(_present(hit_terms[: s.key_hits]))
        agreement = False
        if best:
            top_id = best[0][0]["chunk_id"]
            body_top = [row["chunk_id"] for row, _, _ in lexical[: s.agreement_rank]]
            phrase_top = _by_line_score(phrased)[: s.agreement_rank]
            agreement = top_id in body_top and top_id in phrase_top
        refuse = self.citations if s.refuse_unknown_laws else None
        unknown = refuse.unknown_laws(text, scope.collections) if refuse else []
        # 「行政財産の使用許可に借地借家法は適用される？」: 238条の4 says, so 借地借家法 is not what it lacks
        provided = provided_for(unknown, text, best[0][0]["text"]) if unknown and best else frozenset()
        unknown = [law for law in unknown if law not in provided]
        most_named = topic.most_named if topic else None
        return Evidence(
            phrased=self._has_phrasings(best[0][0]["chunk_id"], phrased) if best else False,
            coverage=share,
            coverage_top=coverage_top,
            nouns_top=nouns_top,
            phrase_coverage=phrase_coverage,
            top_body=lexical[0][1] if lexical else 0.0,
            top_phrase=max((p.score for p in phrased.values()), default=0.0),
            key_term=key,
            key_found=key_found or not s.require_key_noun,
            agreement=agreement,
            unknown_laws=tuple(unknown),
            mentioned_laws=tuple(law for law in topic.mentioned if law not in provided) if topic else (),
            most_named=None if most_named is None or most_named[0] in provided else most_named,
            foreign_law=topic.foreign_law if topic else None,
            foreign_score=topic.foreign_score if topic else 0.0,
            own_topic_score=topic.own_score if topic else 0.0,
            reads_as=topic.reads_as if topic else None,
            ranking_confidence=placed.confidence,
            described_top=placed.coverage,
            learned_peak=first.learned_articles.peak if first.learned_articles else None,
            learned_absent=(
                topic.absent_reading.about(best[0][0]["doc_id"])
                if topic and topic.absent_reading and best
                else None
            ),
            national_only=self._national_only(text, best[0][0]) if best else None,
            local_rules_held=topic.local_rules_held if topic else False,
            contents_only=bool(best) and best[0][0]["part"] == Part.CONTENTS,
        )

    def _national_only(self, text: str, row: dict[str, Any]) -> str | None:
        """The best hit's law when it binds only national organs and ``text`` asks about the asker's own
        municipality (knowledge/national_scope.py)."""
        if not self.settings.national_scope:
            return None
        title, article = row["title"], row["article"]
        return title if answered_locally(text, title, article, packaged_scopes()) else None

    def _aside_test(self, ranked: list[Ranked]) -> Callable[[str], bool]:
        """Whether a sentence of the question says nothing of it: it shares no term with the best hits
        (their text, phrasing lines and everyday words), and names no subject of any law in the topic
        catalogue and nothing the glossary knows, so it is not what the question is about either."""
        head = ranked[: self.settings.coverage_hits]

        @cache  # read only when the question has a sentence besides the one that asks
        def found() -> set[str]:
            pairs = zip(head, self._descriptions(head), strict=True)
            return _present([d if d is not None else self._text_terms(row) for (row, _, _), d in pairs])

        def is_aside(sentence: str) -> bool:
            asked = self.segmenter.query_terms(sentence)
            return not (
                found().intersection(asked.terms)
                or (self.topics is not None and self.topics.names_subject(sentence, asked.words))
                or (self.glossary is not None and self.glossary.expand(sentence))
            )

        return is_aside

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
        known = self._fields.current(self.store.generation)
        for row in rows:
            caption, context, _ = known.get(row["chunk_id"]) or self._field_terms(row)
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

    def _field_terms(self, row: dict[str, Any]) -> _FieldTerms:
        """The caption's and the context's terms as sets, and both together (every question reads them
        for each of its candidates)."""
        generation = self.store.generation
        found = self._fields.get(row["chunk_id"], generation)
        if found is None:
            caption, context = frozenset(row[CAPTION_TERMS].split()), frozenset(row[CONTEXT_TERMS].split())
            found = (caption, context, caption | context)
            self._fields.put(row["chunk_id"], found)
        return found

    def _text_terms(self, row: dict[str, Any]) -> frozenset[str]:
        """Every term of an article's text, caption and context (a whole row)."""
        found = self._texts.get(row["chunk_id"], self.store.generation)
        if found is None:
            found = frozenset(t for column in FTS_COLUMNS for t in row[column].split())
            self._texts.put(row["chunk_id"], found)
        return found

    def _terms_of_hits(self, top: list[Ranked], phrased: dict[str, Phrased]) -> list[frozenset[str]]:
        """Every term of each hit: text, caption, context and its matched phrasing line."""
        found = []
        for row, _, _ in top:
            line = phrased.get(row["chunk_id"])
            text = self._text_terms(row)
            found.append(text | line.terms if line is not None else text)
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
        (``Coverage`` reads the hits' own terms) and for the caption/context bonus.
        """
        stats, s = self.term_stats, self.settings
        if stats.doc_count < s.prune_min_chunks or not terms:
            return terms
        kept = [t for t in terms if stats.df.get(t, 0) <= s.max_term_df * stats.doc_count]
        return kept or [min(terms, key=lambda t: stats.df.get(t, 0))]

    def _key_noun(self, terms: list[str], nouns: frozenset[str]) -> str | None:
        """The question's most specific concept: its rarest noun that the knowledge base knows.

        Words the corpus never uses (colloquialisms such as 自分) cannot decide; a known but
        rare noun (占用, 返礼品) names the subject, and evidence without it is not evidence. A number
        (「1万円」 → 10000) names no subject, and statutes write theirs in kanji (一万円).
        """
        known = [
            t for t in terms if t in nouns and not _is_number(t) and self.term_stats.df.get(t, 0) > 0
        ]
        return max(known, key=self.term_stats.idf, default=None)


class _PerArticle(Generic[T]):
    """Values kept per article between questions, forgotten when the store moves to a newer version
    (and all at once past ``_FIELD_TERMS_KEPT``: a bound, not a cache policy)."""

    def __init__(self) -> None:
        self._values: dict[str, T] = {}
        self._generation: Hashable = -1

    def get(self, chunk_id: str, generation: Hashable) -> T | None:
        return self.current(generation).get(chunk_id)

    def current(self, generation: Hashable) -> dict[str, T]:
        """The values kept at ``generation``, to read many at once (``put`` adds)."""
        if generation != self._generation:
            self._values.clear()
            self._generation = generation
        return self._values

    def put(self, chunk_id: str, value: T) -> None:
        if len(self._values) >= _FIELD_TERMS_KEPT:
            self._values.clear()
        self._values[chunk_id] = value


def _is_number(term: str) -> bool:
    return term.replace(".", "", 1).isdecimal()


def _by_line_score(phrased: dict[str, Phrased]) -> list[str]:
    """Articles by their best phrasing line's score, best first."""
    return sorted(phrased, key=lambda cid: phrased[cid].score, reverse=True)


def _present(hits: list[frozenset[str]]) -> set[str]:
    """The terms of the given hits together."""
    return set().union(*hits)


def _merge(
    cited: list[tuple[dict[str, Any], float, ArticleRef]],
    delegated: list[dict[str, Any]],
    ranked: list[Ranked],
    k: int,
    phrased: dict[str, Phrased],
    likelihood: dict[str, float],
) -> list[SearchHit]:
    """Every cited article first (even beyond ``k``), then what they delegate to, then the ranking,
    up to ``k`` hits in all (``likelihood``: the second stage's, by chunk id, for the ranked ones)."""
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
            phrasing = line.text if line else ""
            chance = likelihood.get(row["chunk_id"])
            hits.append(_hit(len(hits) + 1, row, score, matched_by, phrasing=phrasing, likelihood=chance))
    return hits


def _hit(
    rank: int,
    row: dict[str, Any],
    score: float,
    matched_by: str,
    paragraph: int | None = None,
    phrasing: str = "",
    likelihood: float | None = None,
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
        likelihood=likelihood,
    )


def _list(values: Sequence[str] | None) -> list[str] | None:
    return list(values) if values else None
