"""Second-stage ranking: the best few articles re-ordered by a fitted linear model.

The first stage (knowledge/search.py) adds an article's BM25 on its text to its best phrasing line's.
That sum cannot see whether an article answers the whole question or one word of it many times, nor
whether its law is the one the question is about, nor which words tell it from its neighbours (the
article model, knowledge/article_model.py, learns those). This stage scores each of the best
``rerank_depth`` candidates on a few such signals, weighted by ``RerankWeights`` (fitted by
``python benchmarks/rerank.py`` on the tuning sets, checked on the holdouts). Pure functions only.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, fields

from knowledge.article_model import ArticleReading
from knowledge.aspects import Aspect, shown
from knowledge.coverage import Coverage
from knowledge.settings import RerankWeights


@dataclass(frozen=True)
class Candidates:
    """The best articles as the first stage found them, one list per measure (best first)."""

    doc_ids: list[str]
    articles: list[str]  # "doc_id:article"
    scores: list[float]  # first-stage score: body BM25 + phrasing_weight × best line, topic-boosted
    phrases: list[float]  # the best phrasing line's BM25 (0 without one)
    lines: list[int]  # how many of its phrasing lines the question's phrasing query found
    body_ranks: list[int | None]  # 0-based rank on its text alone (None: found through a phrasing only)
    phrase_ranks: list[int | None]  # 0-based rank of its best line among the lines found
    described: list[frozenset[str]]  # every term of its text, caption, context and phrasing lines
    field_terms: list[frozenset[str]]  # its caption's and context's (law title, chapter path) terms

    def __len__(self) -> int:
        return len(self.doc_ids)


@dataclass(frozen=True)
class Question:
    """What the question brings to the comparison."""

    coverage: Coverage  # how much of the question a set of terms covers
    law_scores: dict[str, float]  # doc id → how well the law's catalogue lines match (topic catalogue)
    named_laws: frozenset[str]  # laws whose subject the question names
    aspects: tuple[Aspect, ...] = ()  # what it asks about (a penalty, a deadline …: knowledge/aspects.py)
    learned_articles: ArticleReading | None = None  # what the article model makes of the question


FEATURES = tuple(f.name for f in fields(RerankWeights))  # the model's inputs, in weights order


def features(candidates: Candidates, question: Question) -> list[tuple[float, ...]]:
    """The model's inputs: one row per candidate, one value per ``FEATURES`` name, in that order.

    Plain Python: for the 15 or so candidates of one question numpy's per-call cost outweighs its speed.
    """
    if not len(candidates):
        return []
    share = question.coverage.share
    scores = [max(score, 0.0) for score in candidates.scores]
    top = scores[0]
    best_law = max(question.law_scores.values(), default=0.0)
    laws = candidates.doc_ids[:10]
    columns = {
        "score": [math.log1p(score) for score in scores],
        "relative": [score / top if top > 0 else 0.0 for score in scores],
        "phrase": [math.log1p(phrase) for phrase in candidates.phrases],
        "body_rank": [_reciprocal(rank) for rank in candidates.body_ranks],
        "phrase_rank": [_reciprocal(rank) for rank in candidates.phrase_ranks],
        "matched_lines": [math.log1p(lines) for lines in candidates.lines],
        "coverage": [share(d) for d in candidates.described],
        "field_coverage": [share(f) for f in candidates.field_terms],
        "law": [question.law_scores.get(d, 0.0) / best_law if best_law else 0.0 for d in candidates.doc_ids],
        "named": [float(d in question.named_laws) for d in candidates.doc_ids],
        "law_share": [laws.count(d) / len(laws) for d in candidates.doc_ids],
        "aspect": [shown(question.aspects, d) for d in candidates.described],
        "learned_article": (
            question.learned_articles.log_probabilities(candidates.articles)
            if question.learned_articles is not None
            else [0.0] * len(candidates)  # a constant for every candidate changes no order
        ),
    }
    return list(zip(*(columns[name] for name in FEATURES), strict=True))


@dataclass(frozen=True)
class Reordered:
    order: list[int]  # indices of the candidates, best first (ties keep the first stage's order)
    confidence: float  # the model's probability that the best is the article asked for (softmax)
    coverage: float = 0.0  # the best's share of the question in its text and all its phrasing lines
    # Each candidate's probability over the best's (1.0 for the best), in the candidates' order.
    likelihood: tuple[float, ...] = ()


def reorder(candidates: Candidates, question: Question, weights: RerankWeights) -> Reordered:
    if not len(candidates):
        return Reordered([], 0.0)
    model = [getattr(weights, name) for name in FEATURES]
    rows = features(candidates, question)
    scores = [sum(map(operator.mul, model, row)) for row in rows]  # rows are FEATURES long, as model is
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # stable: ties keep the first stage's order
    best = scores[order[0]]
    likelihood = tuple(math.exp(score - best) for score in scores)
    confidence = 1.0 / sum(likelihood)
    return Reordered(order, confidence, rows[order[0]][FEATURES.index("coverage")], likelihood)


def _reciprocal(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / (1 + rank)
