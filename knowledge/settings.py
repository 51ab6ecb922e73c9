"""Search settings: the defaults the code uses and the manifest documents (one source for both).

Kept free of heavy imports so the manifest model can read the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

# Articles each bot process keeps in memory (knowledge.cache_rows): a knowledge base of at most
# this many is held whole, a larger one keeps the articles read last.
DEFAULT_CACHE_ROWS = 30_000


@dataclass(frozen=True)
class SufficiencyWeights:
    """Logistic weights of the sufficiency decision (knowledge/sufficiency.py), calibrated by
    benchmarks/sufficiency.py on dev, dev2, the lawqa_jp probe and our own question sets."""

    bias: float = -6.0
    coverage: float = 4.0
    coverage_top: float = 2.0
    phrase_coverage: float = 2.0
    body: float = 0.5
    phrase: float = 0.5
    key: float = 1.5
    agreement: float = 1.0
    mentioned: float = -3.0
    foreign: float = -1.0
    own_topic: float = 0.5


@dataclass(frozen=True)
class SearchSettings:
    caption_boost: float = 0.2  # the 見出し is also in the body; a little extra weight
    context_boost: float = 1.0  # chapter path and law title: which law and part the question is about
    field_bonus: float = 1.2  # a question term in the caption/context adds field_bonus × boost × idf
    candidates: int = 100
    delegated_per_citation: int = 3  # 施行令 articles shown with an explicit citation of the act article
    # In a large knowledge base, terms in more than max_term_df of the chunks are not looked up
    # (they still count for coverage): near-stop-words at scale, with the longest posting lists.
    max_term_df: float = 0.2
    prune_min_chunks: int = 200_000
    # 附則 (transitional provisions) and 別表 rarely answer a staff question: rank them lower.
    part_weights: tuple[tuple[str, float], ...] = (("suppl", 0.5), ("appendix", 0.8))
    # Dense fusion (only with an embedding model): reciprocal-rank fusion of the two rankings.
    rrf_k: int = 60
    dense_weight: float = 1.0
    # Glossary expansions (statute wording for everyday words) count less than the question's own words.
    expansion_weight: float = 0.8
    # Staff phrasings (knowledge/phrasings.py): a second full-text field, fused with the article ranking.
    phrasing_weight: float = 1.5  # 0 switches phrasings off
    # An article found only through its phrasings scores this share of the last body candidate's score.
    unseen_body_share: float = 0.5
    # Articles of a law whose subject the question names (topic catalogue) count 1 + this many times.
    topic_boost: float = 0.3
    phrase_candidates: int = 60  # phrasing lines read per question
    # Sufficiency: share of the question's idf mass that the best hits cover.
    min_coverage: float = 0.35
    require_key_noun: bool = True  # the question's rarest known noun must occur in the best hits
    refuse_unknown_laws: bool = True  # a question naming a law the knowledge base lacks is insufficient
    drop_question_words: bool = True  # 何 / いつ / どんな … are not searched
    min_confidence: float = 0.5  # sufficient when the calibrated score reaches this
    sufficiency_weights: SufficiencyWeights = SufficiencyWeights()
    agreement_rank: int = 5  # the best hit "agrees" when within this rank on its text and its phrasings
    coverage_hits: int = 3  # coverage is measured over this many best hits
    key_hits: int = 3  # the question's key noun must occur in one of this many best hits
    min_score: float = 5.0
