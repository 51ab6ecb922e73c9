"""Search settings: the defaults the code uses and the manifest documents (one source for both).

Kept free of heavy imports so the manifest model can read the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knowledge.sufficiency_model import SufficiencyModels

# Articles each bot process keeps in memory (knowledge.cache_rows): a knowledge base of at most
# this many is held whole, a larger one keeps the articles read last.
DEFAULT_CACHE_ROWS = 30_000


@dataclass(frozen=True)
class RerankWeights:
    """Linear weights of the second-stage ranking (knowledge/rerank.py), on its raw inputs.

    Fitted by ``python benchmarks/rerank.py`` (a listwise logistic model over the best
    ``rerank_depth`` candidates of dev.jsonl, dev2.jsonl and benchmarks/data/calibration.jsonl to
    calibration7.jsonl; the holdouts held out as the checks), then rounded. Refit after a change to the
    phrasings, the catalogue, the aspects, the learned models or the first stage; refit the sufficiency model
    after this.
    """

    score: float = 0.06  # log(1 + first-stage score)
    relative: float = 0.98  # first-stage score / the best candidate's
    phrase: float = -0.05  # log(1 + best phrasing line's BM25)
    body_rank: float = 0.54  # 1 / (1 + rank on the article text alone)
    phrase_rank: float = 0.31  # 1 / (1 + rank of its best phrasing line)
    matched_lines: float = 0.46  # log(1 + how many of its lines the phrasing query found)
    coverage: float = 4.93  # idf share of the question in its text, caption, context, lines and words
    field_coverage: float = 0.4  # … in its caption and context (law title, chapter path)
    law: float = 0.92  # its law's catalogue match / the best held law's
    named: float = 0.16  # the question names its law's subject
    law_share: float = 0.72  # share of the best 10 candidates from its law
    aspect: float = 0.9  # share of what the question asks about (knowledge/aspects.py) its terms show
    learned_article: float = 0.65  # its log-probability under the article model (knowledge/article_model.py)


@dataclass(frozen=True)
class SearchSettings:
    caption_boost: float = 0.2  # the 見出し is also in the body; a little extra weight
    context_boost: float = 1.0  # chapter path and law title: which law and part the question is about
    field_bonus: float = 1.2  # a question term in the caption/context adds field_bonus × boost × idf
    candidates: int = 60
    delegated_per_citation: int = 3  # 施行令 articles shown with an explicit citation of the act article
    # In a large knowledge base, terms in more than max_term_df of the chunks are not looked up
    # (they still count for coverage): near-stop-words at scale, with the longest posting lists.
    max_term_df: float = 0.2
    prune_min_chunks: int = 200_000
    # 附則 (transitional provisions) and 別表 rarely answer a staff question, and a table of contents says
    # only where to look: rank them lower.
    part_weights: tuple[tuple[str, float], ...] = (("suppl", 0.5), ("appendix", 0.8), ("contents", 0.5))
    # Dense fusion (only with an embedding model): reciprocal-rank fusion of the two rankings.
    rrf_k: int = 60
    dense_weight: float = 1.0
    # Glossary expansions (statute wording for everyday words) count less than the question's own words.
    expansion_weight: float = 0.8
    # Staff phrasings (knowledge/phrasings.py): a second full-text field, fused with the article ranking.
    phrasing_weight: float = 2.0  # 0 switches phrasings off
    # An article found only through its phrasings scores this share of the last body candidate's score.
    unseen_body_share: float = 0.5
    # Articles of a law whose subject the question names (topic catalogue) count 1 + this many times.
    topic_boost: float = 0.3
    # … and so do the laws whose catalogue lines match the question at least route_share as well as the
    # best held law's, when that best match reaches route_min (a question clearly about one law).
    route_min: float = 10.0
    route_share: float = 0.9
    phrase_candidates: int = 60  # phrasing lines read per question
    # Second stage (knowledge/rerank.py): the best rerank_depth articles re-ordered by a fitted
    # model (0 or 1 switches it off).
    rerank_depth: int = 15
    rerank_weights: RerankWeights = RerankWeights()
    # An article's everyday words (the phrasing files' ``words``) count for how much of a question it
    # covers, in the second stage and the decision; they are never searched (False: left out, an ablation).
    article_words: bool = True
    # The article model trained at ingest on the phrasing and words lines (knowledge/article_model.py)
    # tells the second stage which of the candidates, often neighbours in one law, the question is about,
    # and the decision how well it reads as any article (False: left out, an ablation).
    article_model: bool = True
    # … and its most probable articles that the best rerank_depth lack, this many, are weighed by the
    # second stage too (matched_by "learned"): a question that describes what it asks in words no line
    # uses is often read right by the model when neither full-text query finds it (0: none, an ablation).
    learned_candidates: int = 5
    # The absent-law model trained at ingest on the held laws' lines and the catalogue's laws not held
    # (knowledge/absent_model.py) tells the decision how probably the question is about a law not held,
    # against every held law at once (False: left out, an ablation).
    absent_model: bool = True
    # The question words (いつ, 誰, 何日 …) are searched in the phrasings, which are written as questions.
    phrasing_question_words: bool = True
    # A compound's parts in the question (有権 and 者 beside 有権者: Sudachi's mode A units) count this
    # much in both full-text queries, so one compound does not outweigh two plain words (1 = as much;
    # written as repeated terms, so a fraction with a denominator of at most 4).
    compound_part_weight: float = 3 / 4
    drop_question_words: bool = True  # 何 / いつ / どんな … are not searched
    # A sentence that does not ask and shares nothing with the best hits nor names any law's subject
    # (「今日は窓口がすごく混んでいて…」) is set aside and the rest searched again (knowledge/asides.py).
    set_asides_aside: bool = True
    # Sufficiency (knowledge/sufficiency.py): a question naming a law the knowledge base lacks is
    # insufficient; otherwise a calibrated score over the evidence decides.
    refuse_unknown_laws: bool = True
    # … and so is one naming this many topic words of one law it lacks and none of a law it holds
    # (「住民税の特別徴収」: two of 地方税法's; the topic catalogue, knowledge/law_topics.py). 0 = off.
    foreign_topics_min: int = 2
    # … and so is one about the asker's own municipality whose best hit is from a law that binds only
    # national organs (情報公開法 but its 25条: a city's disclosure is its 条例's; national_scope.py).
    national_scope: bool = True
    # Sufficient when the calibrated score reaches this (benchmarks/sufficiency.py prints the trade-off).
    min_confidence: float = 0.55
    # The calibrated model (None: the packaged knowledge/data/sufficiency_model.yaml, fitted by
    # ``python benchmarks/sufficiency.py --write``).
    sufficiency_model: SufficiencyModels | None = None
    # … and one that answers whatever the score: its own text covers this share of the question's idf
    # mass, the key noun included, and no topic of a law the base lacks is named.
    text_cover_min: float = 0.6
    text_nouns_min: float = 0.8  # … and this share of its nouns' idf mass
    require_key_noun: bool = True  # False: the key-noun evidence always counts as found (ablation)
    agreement_rank: int = 5  # the best hit "agrees" when within this rank on its text and its phrasings
    coverage_hits: int = 3  # coverage is measured over this many best hits
    key_hits: int = 3  # the question's key noun is looked for in this many best hits
