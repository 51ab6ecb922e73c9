"""Which law governs a topic staff ask about: 住民税 → 地方税法, 火葬許可 → 墓地、埋葬等に関する法律.

A question about a topic whose law the knowledge base does not hold has no basis there, however
well its words happen to match other laws (固定資産税 is mentioned in passing by 地方自治法施行令).
The catalogue (``knowledge/data/law_topics.yaml``) names the law for the topics municipal staff
meet; a law counts as held when the knowledge base has it or a document named after it (所得税法
through 所得税基本通達's pages).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from knowledge.absent_model import AbsentReading, ScopeReader
from knowledge.bm25 import SmallBM25
from knowledge.documents import ParseError
from knowledge.held_laws import HeldLaws
from knowledge.tokenize import Segmenter, WordBounds, normalize
from knowledge.topic_classifier import TopicClassifier
from knowledge.yaml_files import load_yaml

if TYPE_CHECKING:
    from knowledge.store import KnowledgeStore

DEFAULT_CATALOGUE = Path(__file__).resolve().parent / "data" / "law_topics.yaml"
# The catalogue's entry for matters each municipality settles in its own 条例・規則・要綱 (印鑑登録,
# 子ども医療費助成): the knowledge base holds it once it holds any local rule.
LOCAL_RULES = "市区町村の条例・規則・要綱"
LOCAL_ENDINGS = ("条例", "要綱")
LOCAL_BODY = re.compile(r"^[^\s　]{1,8}?[都道府県市区町村](?![町村民長議])")


@dataclass(frozen=True)
class TopicMention:
    topic: str
    laws: tuple[str, ...]  # the laws that govern it (any one of them answers)


@dataclass(frozen=True)
class CatalogueEntry:
    law: str
    topics: tuple[str, ...]  # words naming the law's subjects
    asks: tuple[str, ...] = ()  # how staff ask about them, in everyday words


class TopicCatalogue:
    def __init__(self, entries: Iterable[CatalogueEntry]) -> None:
        self.entries = tuple(entries)
        laws_of: dict[str, list[str]] = {}
        for entry in self.entries:
            for topic in entry.topics:
                laws_of.setdefault(normalize(topic), []).append(entry.law)
        # Longest first: 特別児童扶養手当 is read before the 児童扶養手当 inside it.
        self._topics = sorted(((t, tuple(ls)) for t, ls in laws_of.items()), key=lambda x: -len(x[0]))
        self._by_first: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for topic, laws in self._topics:  # keeps longest first within each initial
            self._by_first.setdefault(topic[0], []).append((topic, laws))

    @classmethod
    def load(cls, path: Path = DEFAULT_CATALOGUE) -> TopicCatalogue:
        raw = load_yaml(path, "the topic catalogue")
        if not isinstance(raw, list):
            raise ParseError(f"{path}: the topic catalogue is a list of entries with 'law' and 'topics'")
        entries = []
        for number, item in enumerate(raw, start=1):
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("law"), str)
                or set(item) - {"law", "topics", "asks"}
                or not all(
                    isinstance(item.get(key, []), list)
                    and all(isinstance(t, str) and t.strip() for t in item.get(key, []))
                    for key in ("topics", "asks")
                )
                or not item.get("topics")
            ):
                raise ParseError(
                    f"{path}: entry {number}: needs 'law' (text), 'topics' and optionally 'asks' "
                    "(lists of text)"
                )
            entries.append(CatalogueEntry(item["law"], tuple(item["topics"]), tuple(item.get("asks", []))))
        return cls(entries)

    def mentions(self, question: str, *, words: WordBounds | None = None) -> list[TopicMention]:
        """Topics the question names, longest match first, never two overlapping (each topic once).

        With ``words`` (the question's word boundaries, ``Segmenter.boundaries``) a topic counts only
        as whole words: 「がけ」 is not named by 「住民がけがをした」, nor 「わな」 by 「払わない」.
        """
        text = normalize(question)
        spans: list[tuple[int, int, str, tuple[str, ...]]] = []
        for start, ch in enumerate(text):
            if words is not None and start not in words.starts:
                continue
            for topic, laws in self._by_first.get(ch, ()):
                end = start + len(topic)
                if text.startswith(topic, start) and (words is None or words.whole(start, end)):
                    spans.append((start, end, topic, laws))
        taken = [False] * len(text)
        found: dict[str, TopicMention] = {}
        for start, end, topic, laws in sorted(spans, key=lambda s: (s[0] - s[1], s[0])):
            if topic not in found and not any(taken[start:end]):
                taken[start:end] = [True] * (end - start)
                found[topic] = TopicMention(topic, laws)
        return list(found.values())


class CatalogueIndex:
    """The catalogue's lines (topics and asks) as a small full-text index: which law a question is about.

    A question that matches the lines of a law the knowledge base does not hold better than anything
    it holds is probably about that law; the sufficiency decision weighs this (knowledge/sufficiency.py).
    """

    def __init__(
        self, catalogue: TopicCatalogue, *, segmenter: Segmenter, held_titles: Iterable[str]
    ) -> None:
        titles = list(held_titles)
        self._laws, self._bm25, self._law_of_line = lines_of(catalogue.entries, segmenter)
        self._held = np.array([is_held(law, titles) for law in self._laws], dtype=bool)
        self._classifier = classifier_of(catalogue.entries)
        self._absent = np.array([not is_held(law, titles) for law in self._classifier.laws], dtype=bool)

    def best(self, terms: list[str]) -> tuple[tuple[str, float] | None, dict[str, float]]:
        """(the best-matching law not held and its score, each held law's best line score)."""
        scores = self._bm25.score_array(terms)
        matched = np.flatnonzero(scores > 0)
        per_law = np.zeros(len(self._laws))  # each law's best line
        np.maximum.at(per_law, self._law_of_line[matched], scores[matched])
        own = {self._laws[n]: float(per_law[n]) for n in np.flatnonzero((per_law > 0) & self._held)}
        others = np.where(self._held, 0.0, per_law)
        best = int(np.argmax(others)) if len(others) else 0
        foreign = (self._laws[best], float(others[best])) if len(others) and others[best] > 0 else None
        return foreign, own

    def reads_as_absent(self, question: str) -> tuple[str, float] | None:
        """The law not held that ``question`` most probably reads as (knowledge/topic_classifier.py),
        and that probability."""
        if not self._absent.any():
            return None
        probs = self._classifier.probabilities(question)
        best = int(np.argmax(np.where(self._absent, probs, -1.0)))
        return self._classifier.laws[best], float(probs[best])


@cache
def lines_of(
    entries: tuple[CatalogueEntry, ...], segmenter: Segmenter
) -> tuple[list[str], SmallBM25, npt.NDArray[np.int64]]:
    """The catalogue's laws (each once, in catalogue order), its lines as a small full-text index and each
    line's law: segmented once per process, whichever laws a search's scope holds."""
    numbers: dict[str, int] = {}
    law_of_line: list[int] = []
    lines: list[list[str]] = []
    for entry in entries:
        number = numbers.setdefault(entry.law, len(numbers))
        for line in entry.topics + entry.asks:
            terms = segmenter.terms(line)
            if terms:
                lines.append(terms)
                law_of_line.append(number)
    return list(numbers), SmallBM25(lines), np.array(law_of_line, dtype=np.int64)


@cache
def classifier_of(entries: tuple[CatalogueEntry, ...]) -> TopicClassifier:
    """The catalogue's classifier, built once per process for each catalogue (half a second's counting)."""
    return TopicClassifier.build((entry.law, entry.topics + entry.asks) for entry in entries)


def absent_law_lines(entries: Iterable[CatalogueEntry], held_titles: Iterable[str]) -> list[tuple[str, str]]:
    """(law, line) for each topic and ask of the catalogue's laws not held: what the absent-law model
    learns them from (knowledge/absent_model.py)."""
    titles = list(held_titles)
    return [(e.law, line) for e in entries if not is_held(e.law, titles) for line in e.topics + e.asks]


def laws_not_held(mentions: Iterable[TopicMention], held_titles: Iterable[str]) -> list[str]:
    """Laws governing a mentioned topic of which the knowledge base holds none (in mention order)."""
    titles = list(held_titles)
    missing: list[str] = []
    for mention in mentions:
        if not any(is_held(law, titles) for law in mention.laws):
            missing.extend(law for law in mention.laws if law not in missing)
    return missing


def is_held(law: str, titles: list[str]) -> bool:
    """Whether the knowledge base holds ``law``: its own text, or a 通達 interpreting it.

    Only the title itself counts, or the title followed by a circular's name (消費税法基本通達, and
    法人税基本通達 for 法人税法: the 国税庁's 基本通達 drop the law's 法): 国民健康保険法 does not hold
    健康保険法, an implementing order alone (借地借家法施行令) does not hold its law, and 「地方税法等改正法…
    に関する法律」 is another law. The catalogue's entry for a municipality's own rules (LOCAL_RULES) is
    held once any of them is (``is_local_rule``).
    """
    if law == LOCAL_RULES:
        return any(is_local_rule(title) for title in titles)
    basic = f"{law.removesuffix('法')}基本通達" if law.endswith("法") else None
    return any(
        title == law
        or (title.startswith(law) and "通達" in title[len(law) :])
        or (basic is not None and title.startswith(basic))
        for title in titles
    )


def is_local_rule(title: str) -> bool:
    """A local government's own 例規: an 条例 or 要綱 (no national law is titled so), or a 規則・規程・
    要領 whose title starts with the body's name (○○市財務規則; not 住民基本台帳法施行規則)."""
    return title.endswith(LOCAL_ENDINGS) or (
        title.endswith(("規則", "規程", "要領")) and LOCAL_BODY.match(title) is not None
    )


@dataclass(frozen=True)
class TopicEvidence:
    """Whether a question looks like it is about a law the knowledge base does not hold."""

    mentioned: tuple[str, ...]  # laws not held whose topic words the question names (and no held law's)
    held_docs: tuple[str, ...]  # doc ids of held laws whose topic words the question names
    held_scores: dict[str, float]  # doc id → how well each held law's catalogue lines match
    foreign_law: str | None  # the law not held whose catalogue lines match the question best
    foreign_score: float
    own_score: float  # the best match among the catalogue lines of laws that are held
    # The law not held whose topic words the question names most (none when it names a held law's), and
    # those words: 「住民税の特別徴収」 names two of 地方税法's.
    most_named: tuple[str, tuple[str, ...]] | None = None
    # The law not held the question most probably reads as, and that probability (TopicClassifier).
    reads_as: tuple[str, float] | None = None
    local_rules_held: bool = False  # a municipality's own 例規 is among the documents searched
    # How probably it reads as a law the scope does not hold, against every held law (absent_model.py).
    absent_reading: AbsentReading | None = None


@dataclass(frozen=True)
class _Holding:
    """What one scope of the store holds: its law titles, their doc ids and the catalogue against them."""

    titles: list[str]
    ids: dict[str, str]  # held title → doc id
    index: CatalogueIndex
    local_rules: bool  # a municipality's own 例規 is among them (LOCAL_RULES is held)
    absent: ScopeReader | None  # the absent-law model read for this scope (None: no model trained)


class StoreTopicJudge:
    """The catalogue against the laws a knowledge store holds in the collections a search may read
    (rebuilt after an ingest adds laws): one tenant's 例規 or privately registered law neither answers
    nor is counted as held for another."""

    def __init__(self, store: KnowledgeStore, catalogue: TopicCatalogue, *, segmenter: Segmenter) -> None:
        self._store = store
        self._catalogue = catalogue
        self._segmenter = segmenter
        self._holdings = HeldLaws(store, lambda titles: self._holding(dict(titles)))

    def assess(
        self,
        question: str,
        terms: list[str],
        words: WordBounds,
        collections: Sequence[str] | None = None,
        *,
        learned: bool = True,
    ) -> TopicEvidence:
        """``terms`` and ``words`` (its word boundaries) come from the segmentation of ``question``;
        ``collections`` are the ones the search may read (None: all); ``learned``: read the absent-law
        model too."""
        held = self._holdings.of(collections)
        mentions = self._catalogue.mentions(question, words=words)
        held_topics = [m for m in mentions if not laws_not_held([m], held.titles)]
        mentioned = () if held_topics else tuple(laws_not_held(mentions, held.titles))
        named: dict[str, list[str]] = {}
        for mention in () if held_topics else mentions:  # then none of them is a held law's
            for law in mention.laws:
                named.setdefault(law, []).append(mention.topic)
        most = max(named.items(), key=lambda item: len(item[1]), default=None)  # first of a tie
        held_docs = tuple(
            dict.fromkeys(held.ids[law] for m in held_topics for law in m.laws if law in held.ids)
        )
        foreign, own = held.index.best(terms)
        return TopicEvidence(
            mentioned=mentioned,
            most_named=(most[0], tuple(most[1])) if most else None,
            held_docs=held_docs,
            held_scores={held.ids[law]: score for law, score in own.items() if law in held.ids},
            foreign_law=foreign[0] if foreign else None,
            foreign_score=foreign[1] if foreign else 0.0,
            own_score=max(own.values(), default=0.0),
            reads_as=held.index.reads_as_absent(question),
            local_rules_held=held.local_rules,
            absent_reading=held.absent.read(question) if learned and held.absent else None,
        )

    def names_subject(self, text: str, words: WordBounds) -> bool:
        """Whether ``text`` (``words``: its word boundaries) names a subject of any law in the catalogue,
        held or not."""
        return bool(self._catalogue.mentions(text, words=words))

    def _holding(self, ids: dict[str, str]) -> _Holding:
        index = CatalogueIndex(self._catalogue, segmenter=self._segmenter, held_titles=ids)
        titles = list(ids)
        model = self._store.absent_model()
        absent = ScopeReader.of(model, set(ids.values())) if model is not None else None
        return _Holding(titles, ids, index, is_held(LOCAL_RULES, titles), absent)
