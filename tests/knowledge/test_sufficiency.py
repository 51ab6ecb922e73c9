"""The sufficiency decision over the evidence a search gathered (pure)."""

from __future__ import annotations

import math
from dataclasses import replace

from knowledge.law_topics import LOCAL_RULES
from knowledge.settings import SearchSettings
from knowledge.sufficiency import READ_SURE, Evidence, confidence, inputs, judge, likely_absent_laws
from knowledge.sufficiency_model import INPUTS

STRONG = Evidence(
    phrased=True,
    coverage=0.9,
    coverage_top=0.9,
    phrase_coverage=0.8,
    nouns_top=0.9,
    top_body=40.0,
    top_phrase=35.0,
    key_term="占用",
    key_found=True,
    agreement=True,
    ranking_confidence=0.8,
    described_top=0.9,
)
WEAK = replace(
    STRONG, coverage=0.2, coverage_top=0.1, phrase_coverage=0.1, top_phrase=4.0, agreement=False,
    ranking_confidence=0.1,
    described_top=0.3,
)


def test_strong_evidence_answers_and_weak_evidence_abstains() -> None:
    settings = SearchSettings()
    assert judge(STRONG, settings).sufficient
    weak = judge(WEAK, settings)
    assert not weak.sufficient
    assert weak.reason.startswith(f"confidence {weak.confidence:.2f} (min {settings.min_confidence})")


def test_a_hit_without_phrasings_is_weighed_on_its_text_alone() -> None:
    settings = SearchSettings()
    text_only = replace(STRONG, phrased=False, phrase_coverage=0.0, top_phrase=0.0, agreement=False)
    assert judge(text_only, settings).sufficient  # a well-covered notice or 例規 still answers
    # … but one that misses a thing the question names (名刺 asked, 名札 answered) is not answered by the
    # rule: the text model's score decides (0.598 or 0.623 by the last two fits: the value is the fit's)
    weaker = judge(replace(text_only, coverage_top=0.67, nouns_top=0.6), settings)
    assert weaker.reason.startswith("confidence ")
    assert confidence(text_only, settings) != confidence(replace(text_only, phrased=True), settings)


def test_a_named_law_the_base_lacks_decides_alone() -> None:
    judgement = judge(replace(STRONG, unknown_laws=("金融商品取引法",)), SearchSettings())
    assert not judgement.sufficient
    assert "not in the knowledge base: 金融商品取引法" in judgement.reason


def test_two_subjects_of_one_law_the_base_lacks_decide_alone() -> None:
    settings = SearchSettings()
    taxed = replace(STRONG, mentioned_laws=("地方税法",), most_named=("地方税法", ("住民税", "特別徴収")))
    judgement = judge(taxed, settings)
    assert not judgement.sufficient and judgement.absent_laws == ("地方税法",)
    assert judgement.reason.startswith("about 地方税法 (住民税、特別徴収), not in the knowledge base")
    passing = replace(taxed, most_named=("地方税法", ("住民税",)))  # one is weighed with the rest
    assert judge(passing, settings).reason.startswith("confidence ")
    assert judge(passing, settings).absent_laws == ()
    off = judge(taxed, replace(settings, foreign_topics_min=0))  # the rule switched off: the model decides
    assert off.reason.startswith("confidence ") and off.absent_laws == ()
    named = judge(replace(STRONG, unknown_laws=("金融商品取引法",)), settings)
    assert named.absent_laws == ("金融商品取引法",)


def test_a_national_law_found_for_the_askers_own_municipality_decides_alone() -> None:
    settings = SearchSettings()
    disclosure = "行政機関の保有する情報の公開に関する法律"
    judgement = judge(replace(STRONG, national_only=disclosure), settings)
    assert not judgement.sufficient and judgement.absent_laws == (LOCAL_RULES,)
    assert judgement.reason.startswith(f"a matter of the municipality's own rules ({disclosure} binds")
    held = judge(replace(STRONG, national_only=disclosure, local_rules_held=True), settings)
    assert not held.sufficient and held.absent_laws == ()  # its 例規 is searched: not said to be missing


def test_a_table_of_contents_found_first_answers_nothing() -> None:
    settings = SearchSettings()
    assert judge(STRONG, settings).sufficient
    text_alone = replace(STRONG, phrased=False, coverage_top=1.0, nouns_top=1.0, contents_only=True)
    for found in (replace(STRONG, contents_only=True), text_alone):
        judgement = judge(found, settings)
        assert not judgement.sufficient and judgement.confidence == 0.0
        assert judgement.reason.startswith("the best hit lists other pages (a table of contents)")


def test_each_kind_of_evidence_moves_the_score_its_way() -> None:
    settings = SearchSettings()
    base = confidence(WEAK, settings)
    assert confidence(replace(WEAK, phrase_coverage=0.9), settings) > base
    assert confidence(replace(WEAK, top_phrase=40.0), settings) > base
    assert confidence(replace(WEAK, ranking_confidence=0.9), settings) > base
    described = [confidence(replace(WEAK, described_top=share), settings) for share in (0.05, 0.9)]
    assert described[1] > described[0]
    # Naming a topic of a law not held never raises it; the fitted model may leave it to the readings of
    # the catalogue's classifier and the absent-law model, which see the same words and more.
    assert confidence(replace(WEAK, mentioned_laws=("地方税法",)), settings) <= base
    assert confidence(replace(WEAK, learned_absent=math.log(0.5)), settings) < base
    assert confidence(replace(WEAK, foreign_law="道路法", foreign_score=30.0), settings) < base
    taxed = replace(WEAK, mentioned_laws=("地方税法",), foreign_law="地方税法", foreign_score=9.0)
    reason = judge(taxed, settings).reason
    assert "names 地方税法" in reason
    assert "looks like 地方税法" in reason


def test_a_question_that_reads_as_a_law_not_held_loses_confidence() -> None:
    settings = SearchSettings()
    middling = replace(STRONG, phrase_coverage=0.4, described_top=0.5, ranking_confidence=0.5)
    unread = confidence(middling, settings)
    assert confidence(replace(middling, reads_as=("地方税法", 0.02)), settings) <= unread
    assert confidence(replace(middling, reads_as=("地方税法", 0.9)), settings) < unread
    reason = judge(replace(middling, reads_as=("地方税法", 0.9)), settings).reason
    assert "reads as 地方税法 (0.90)" in reason
    assert "reads as" not in judge(replace(middling, reads_as=("地方税法", 0.001)), settings).reason


def test_the_evidence_gives_the_model_every_input_it_knows_and_no_other() -> None:
    assert list(inputs(STRONG)) == list(INPUTS)


def test_an_unanswered_question_names_the_laws_not_held_it_reads_as() -> None:
    stall = ("食品衛生法", 0.97)  # 「保健所の許可」 for a festival stall
    three = ("社会教育法", "特定家庭用機器再商品化法", "放送法")  # 公民館のテレビの受信料
    # of the laws whose topic words it names, the one it reads as (by either reading)
    assert likely_absent_laws(replace(WEAK, mentioned_laws=three, reads_as=("放送法", 0.99))) == ("放送法",)
    assert likely_absent_laws(replace(WEAK, mentioned_laws=three, foreign_law="放送法")) == ("放送法",)
    # none of them: the law both readings agree on, when the n-gram reading is sure …
    named = replace(WEAK, mentioned_laws=("地域保健法",), reads_as=stall, foreign_law="食品衛生法")
    assert likely_absent_laws(named) == ("食品衛生法",)
    # … and every one it names otherwise
    unsure = replace(named, reads_as=("食品衛生法", READ_SURE - 0.01))
    assert likely_absent_laws(unsure) == ("地域保健法",)
    assert likely_absent_laws(replace(named, foreign_law="医療法")) == ("地域保健法",)
    # a reading alone, with no topic word of a law not held, names nothing
    assert likely_absent_laws(replace(WEAK, reads_as=stall, foreign_law="食品衛生法")) == ()
