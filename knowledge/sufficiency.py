"""Is the evidence enough to answer? The decision, kept apart from how the evidence is gathered.

A wrong citation is worse than no answer, and "no basis found" for a question the laws do
answer is the next worst thing: the decision weighs what the best hits cover of the question
(through their text and their staff phrasings), how strongly they match, and whether the
question is about a law the knowledge base does not hold at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from knowledge.article_model import FLOOR
from knowledge.law_topics import LOCAL_RULES
from knowledge.settings import SearchSettings
from knowledge.sufficiency_model import packaged_models

SHOWN = 0.01  # a law not held the question reads as less probably than this is left out of the reason
# How probably the question must read as one law (by the catalogue's n-grams, against every law in it) for
# that law alone to be named when the laws whose topic words it names are not the ones it reads as.
READ_SURE = 0.9


@dataclass(frozen=True)
class Evidence:
    """What the search found, reduced to the measures the decision reads (all pure numbers)."""

    phrased: bool  # the best hit has staff phrasings: weighed with them, otherwise on its text alone
    coverage: float  # idf share of the question's terms in the best hits (text or phrasings)
    coverage_top: float  # the same for the best hit alone
    phrase_coverage: float  # idf share of the question in the best hit's best phrasing line
    nouns_top: float  # idf share of the question's nouns in the best hit (what it is about)
    top_body: float  # best body score (BM25 + field bonus)
    top_phrase: float  # best phrasing-line score
    key_term: str | None  # the question's rarest noun the knowledge base knows
    key_found: bool  # … found in the best hits
    agreement: bool  # the best hit ranks high on its text and on its phrasings alike
    unknown_laws: tuple[str, ...] = ()  # laws the question names that the knowledge base lacks
    # From the topic catalogue (knowledge/law_topics.py): laws not held that the question's topic
    # words name, and how well the best such law's catalogue lines match against the held laws' lines.
    mentioned_laws: tuple[str, ...] = ()
    foreign_law: str | None = None
    foreign_score: float = 0.0
    own_topic_score: float = 0.0
    ranking_confidence: float = 0.0  # the second stage's probability that the best hit is the one asked for
    described_top: float = 0.0  # idf share of the question in the best hit's text, all its lines and words
    # The law not held whose topic words the question names most, and those words (law_topics.TopicEvidence).
    most_named: tuple[str, tuple[str, ...]] | None = None
    # The law not held the question most probably reads as by the catalogue's n-grams, and how probably.
    reads_as: tuple[str, float] | None = None
    # How probably the question reads as the article it reads as most (None: no article model).
    learned_peak: float | None = None
    # How probably the question reads as a law the search's scope does not hold rather than as any article it
    # holds, by the model trained on both (knowledge/absent_model.py; None: no such model).
    learned_absent: float | None = None
    # The law, binding national organs only, whose article was found for a question about the asker's own
    # municipality (knowledge/national_scope.py): the municipality's own rules decide it.
    national_only: str | None = None
    local_rules_held: bool = False  # … and whether the search may read any of those rules
    # The best hit is a table of contents or a list of other pages (documents.Part.CONTENTS): it says where
    # to look, not what the answer is.
    contents_only: bool = False


@dataclass(frozen=True)
class Judgement:
    sufficient: bool
    confidence: float  # 0..1, the decision's own score
    reason: str
    absent_laws: tuple[str, ...] = ()  # the laws the question is about that the base does not hold


def judge(e: Evidence, s: SearchSettings) -> Judgement:
    if e.unknown_laws:
        reason = f"not in the knowledge base: {'、'.join(e.unknown_laws)}; {_facts(e)}"
        return Judgement(False, 0.0, reason, e.unknown_laws)
    if e.contents_only:
        return Judgement(False, 0.0, f"the best hit lists other pages (a table of contents); {_facts(e)}")
    if e.national_only is not None:
        own = f"a matter of the municipality's own rules ({e.national_only} binds national organs)"
        reason = f"{own}; {_facts(e)}"
        return Judgement(False, 0.0, reason, () if e.local_rules_held else (LOCAL_RULES,))
    subject = _foreign_subject(e, s)
    if subject:
        law, topics = subject
        reason = f"about {law} ({'、'.join(topics)}), not in the knowledge base; {_facts(e)}"
        return Judgement(False, 0.0, reason, (law,))
    score = confidence(e, s)
    if (
        not e.phrased
        and e.coverage_top >= s.text_cover_min
        and e.nouns_top >= s.text_nouns_min
        and e.key_found
        and not e.mentioned_laws
    ):
        # A hit without phrasings (an admin's 例規, a notice, a captured 照会 answer) whose own words
        # cover the question, and nearly every thing it names (名刺 is not 名札):
        # precise on every set we measured (benchmarks/sufficiency.py), and the catalogue knows
        # nothing of a municipality's own documents.
        reason = f"the best hit's text covers the question; {_facts(e)}"
        return Judgement(True, max(score, s.min_confidence), reason)
    reason = f"confidence {score:.2f} (min {s.min_confidence}); {_facts(e)}"
    return Judgement(score >= s.min_confidence, score, reason)


def _foreign_subject(e: Evidence, s: SearchSettings) -> tuple[str, tuple[str, ...]] | None:
    """(地方税法, (住民税, 特別徴収)) when the question names ``foreign_topics_min`` or more topics of one
    law the base does not hold and none of a law it holds: two subjects of the same absent law are what
    the question is about, not a passing mention."""
    if e.most_named is None or s.foreign_topics_min <= 0:
        return None
    return e.most_named if len(e.most_named[1]) >= s.foreign_topics_min else None


def likely_absent_laws(e: Evidence) -> tuple[str, ...]:
    """The laws not held that an unanswered question is probably about, to name to staff.

    A question names topic words of several laws more often than it is about them all (公民館のテレビの
    受信料 names 社会教育法, 家電リサイクル法 and 放送法): of the laws whose topic words it names, those it
    also reads as (by the catalogue's n-grams or its best matching lines); if none of them, the one law both
    readings agree on when the n-gram reading is sure (「保健所の許可」 for a festival stall names 地域保健法
    but reads as 食品衛生法); else all of them. None when it names no topic of a law not held."""
    mentioned = e.mentioned_laws
    reading = {e.reads_as[0] if e.reads_as else None, e.foreign_law} - {None}
    read = tuple(law for law in mentioned if law in reading)
    if read or not mentioned:
        return read
    if e.reads_as is not None and e.reads_as[0] == e.foreign_law and e.reads_as[1] >= READ_SURE:
        return (e.foreign_law,)
    return mentioned


def confidence(e: Evidence, s: SearchSettings) -> float:
    """The calibrated probability that the evidence answers the question (knowledge/sufficiency_model.py):
    one model for a best hit with staff phrasings and one for a hit judged on its text alone."""
    models = s.sufficiency_model or packaged_models()
    return models.for_hit(e.phrased).probability(inputs(e))


def inputs(e: Evidence) -> dict[str, float | None]:
    """The decision's inputs, by the names of ``knowledge.sufficiency_model.INPUTS``."""
    return {
        "coverage": e.coverage,
        "coverage_top": e.coverage_top,
        "phrase_coverage": e.phrase_coverage,
        "body": math.log1p(e.top_body),
        "phrase": math.log1p(e.top_phrase),
        "key": 1.0 if e.key_found or e.key_term is None else 0.0,
        "agreement": 1.0 if e.agreement else 0.0,
        "mentioned": 1.0 if e.mentioned_laws else 0.0,
        "foreign": math.log1p(e.foreign_score),
        "own_topic": math.log1p(e.own_topic_score),
        "foreign_margin": foreign_margin(e),
        "ranking": e.ranking_confidence,
        "described_top": e.described_top,
        "reads_absent": math.log(max(e.reads_as[1] if e.reads_as else 0.0, FLOOR)),
        "learned_peak": e.learned_peak,
        "learned_absent": e.learned_absent,
    }


def foreign_margin(e: Evidence) -> float:
    """How much better a law the base does not hold explains the question than anything it holds."""
    return max(0.0, math.log1p(e.foreign_score) - math.log1p(max(e.own_topic_score, e.top_phrase)))


def _facts(e: Evidence) -> str:
    return (
        f"coverage {e.coverage:.2f}/{e.coverage_top:.2f}, phrasing {e.phrase_coverage:.2f}, "
        f"top score {e.top_body:.1f}/{e.top_phrase:.1f}, key term {e.key_term or '-'} "
        f"{'found' if e.key_found else 'not found'}{', agreed' if e.agreement else ''}, "
        f"ranking {e.ranking_confidence:.2f}"
        + (f", article fit {math.exp(e.learned_peak):.2f}" if e.learned_peak is not None else "")
        + (f", names {'、'.join(e.mentioned_laws)}" if e.mentioned_laws else "")
        + (f", looks like {e.foreign_law} ({e.foreign_score:.1f})" if e.foreign_law else "")
        + _reads_as(e)
    )


def _reads_as(e: Evidence) -> str:
    if e.reads_as is None or e.reads_as[1] < SHOWN:
        return ""
    law, probability = e.reads_as
    return f", reads as {law} ({probability:.2f})"
