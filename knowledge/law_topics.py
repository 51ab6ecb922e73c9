"""Which law governs a topic staff ask about: 住民税 → 地方税法, 火葬許可 → 墓地、埋葬等に関する法律.

A question about a topic whose law the knowledge base does not hold has no basis there, however
well its words happen to match other laws (固定資産税 is mentioned in passing by 地方自治法施行令).
The catalogue (``knowledge/data/law_topics.yaml``) names the law for the topics municipal staff
meet; a law counts as held when the knowledge base has it or a document named after it (所得税法
through 所得税基本通達's pages).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from knowledge.documents import ParseError
from knowledge.tokenize import normalize

DEFAULT_CATALOGUE = Path(__file__).resolve().parent / "data" / "law_topics.yaml"


@dataclass(frozen=True)
class TopicMention:
    topic: str
    laws: tuple[str, ...]  # the laws that govern it (any one of them answers)


class TopicCatalogue:
    def __init__(self, entries: Iterable[tuple[str, Iterable[str]]]) -> None:
        laws_of: dict[str, list[str]] = {}
        for law, topics in entries:
            for topic in topics:
                laws_of.setdefault(normalize(topic), []).append(law)
        # Longest first: 特別児童扶養手当 is read before the 児童扶養手当 inside it.
        self._topics = sorted(((t, tuple(ls)) for t, ls in laws_of.items()), key=lambda x: -len(x[0]))

    @classmethod
    def load(cls, path: Path = DEFAULT_CATALOGUE) -> TopicCatalogue:
        try:
            raw = YAML(typ="safe").load(path.read_text("utf-8"))
        except (OSError, YAMLError) as exc:
            raise ParseError(f"{path}: cannot read the topic catalogue: {exc}") from exc
        if not isinstance(raw, list):
            raise ParseError(f"{path}: the topic catalogue is a list of entries with 'law' and 'topics'")
        entries = []
        for number, item in enumerate(raw, start=1):
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("law"), str)
                or not isinstance(item.get("topics"), list)
                or not all(isinstance(t, str) and t.strip() for t in item["topics"])
            ):
                raise ParseError(f"{path}: entry {number}: needs 'law' (text) and 'topics' (a list of words)")
            entries.append((item["law"], item["topics"]))
        return cls(entries)

    def mentions(self, question: str) -> list[TopicMention]:
        """Topics the question names, longest match first, never two overlapping."""
        text = normalize(question)
        taken = [False] * len(text)
        found: list[TopicMention] = []
        for topic, laws in self._topics:
            start = text.find(topic)
            while start != -1:
                end = start + len(topic)
                if not any(taken[start:end]):
                    taken[start:end] = [True] * len(topic)
                    found.append(TopicMention(topic, laws))
                    break
                start = text.find(topic, start + 1)
        return found


def laws_not_held(mentions: Iterable[TopicMention], held_titles: Iterable[str]) -> list[str]:
    """Laws governing a mentioned topic of which the knowledge base holds none (in mention order)."""
    titles = list(held_titles)
    missing: list[str] = []
    for mention in mentions:
        if not any(_held(law, titles) for law in mention.laws):
            missing.extend(law for law in mention.laws if law not in missing)
    return missing


def _held(law: str, titles: list[str]) -> bool:
    return any(law == title or law in title for title in titles)
