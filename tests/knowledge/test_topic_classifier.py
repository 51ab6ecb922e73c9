"""The catalogue's n-gram classifier: which law a question reads like, held or not."""

from __future__ import annotations

import numpy as np

from knowledge.law_topics import CatalogueEntry, CatalogueIndex, TopicCatalogue, classifier_of
from knowledge.tokenize import Segmenter
from knowledge.topic_classifier import TopicClassifier

LINES = [
    ("地方税法", ["住民税", "固定資産税", "固定資産税の税率", "住民税の特別徴収の通知"]),
    ("道路法", ["道路占用許可", "歩道に看板を置きたい", "道路の占用料"]),
    ("介護保険法", ["要介護認定", "介護保険料の滞納", "要介護認定の申請"]),
]


def test_a_question_reads_as_the_law_whose_lines_share_its_ngrams() -> None:
    classifier = TopicClassifier.build(LINES)
    assert classifier.laws == ("地方税法", "道路法", "介護保険法")
    for question, law in [
        ("固定資産税の税率は何パーセント？", "地方税法"),
        ("店の前の歩道に看板を出したい", "道路法"),
        ("要介護認定の結果に納得できない", "介護保険法"),
    ]:
        probs = classifier.probabilities(question)
        assert np.isclose(probs.sum(), 1.0)
        assert classifier.laws[int(np.argmax(probs))] == law, question


def test_a_law_named_twice_counts_once_and_a_question_of_unknown_ngrams_reads_as_none() -> None:
    split = TopicClassifier.build([*LINES, ("地方税法", ["軽自動車税"])])
    assert split.laws == ("地方税法", "道路法", "介護保険法")
    assert split.laws[int(np.argmax(split.probabilities("軽自動車税の減免")))] == "地方税法"
    assert np.allclose(split.probabilities("ｘｙｚ"), 1 / 3)  # NFKC: xyz, in no line


def test_the_index_reports_the_most_probable_law_it_does_not_hold() -> None:
    catalogue = TopicCatalogue(CatalogueEntry(law, tuple(lines)) for law, lines in LINES)
    index = CatalogueIndex(catalogue, segmenter=Segmenter(), held_titles=["介護保険法"])
    law, probability = index.reads_as_absent("固定資産税の税率は？") or ("", 0.0)
    assert law == "地方税法" and probability > 0.5
    law, probability = index.reads_as_absent("要介護認定の申請の期限") or ("", 1.0)
    assert law != "介護保険法" and probability < 0.5  # held: never reported, and the rest is unlikely
    everything = CatalogueIndex(
        catalogue, segmenter=Segmenter(), held_titles=["地方税法", "道路法", "介護保険法"]
    )
    assert everything.reads_as_absent("固定資産税の税率は？") is None


def test_the_shipped_catalogue_builds_once_per_process() -> None:
    shipped = TopicCatalogue.load()
    assert classifier_of(shipped.entries) is classifier_of(TopicCatalogue.load().entries)
    probs = classifier_of(shipped.entries).probabilities("住民税の特別徴収税額の通知が届かない")
    assert classifier_of(shipped.entries).laws[int(np.argmax(probs))] == "地方税法"
