"""What a question asks about (a penalty, a deadline, who pays, how to contest it), and which articles
show it.

Neighbouring articles of one law share most of their words: 住民基本台帳法's 転入届 article and the one that
fines whoever does not file it match a question on 転入届 alike. When the question asks 「罰則は？」, the
article whose words set a penalty (過料, 罰金) is the likelier answer. ``knowledge/data/aspects.yaml`` lists
a few such general aspects; the second stage (knowledge/rerank.py) weighs the share of the question's
aspects an article's terms show. Pure functions and a loader only.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path

from knowledge.documents import ParseError
from knowledge.tokenize import Segmenter, normalize
from knowledge.yaml_files import entries_of, is_word_list

DEFAULT_ASPECTS = Path(__file__).resolve().parent / "data" / "aspects.yaml"


@dataclass(frozen=True)
class Aspect:
    name: str
    asks: tuple[str, ...]  # NFKC-normalised substrings of a question that ask about it
    terms: frozenset[str]  # search terms (as indexed) by which an article shows it


@dataclass(frozen=True)
class Aspects:
    entries: tuple[Aspect, ...]

    def asked(self, question: str) -> tuple[Aspect, ...]:
        """The aspects ``question`` asks about, in file order."""
        text = normalize(question)
        return tuple(a for a in self.entries if any(s in text for s in a.asks))


def shown(asked: tuple[Aspect, ...], described: Set[str]) -> float:
    """Share of the asked aspects that an article's terms show (0 when the question asks none)."""
    if not asked:
        return 0.0
    return sum(1 for a in asked if not a.terms.isdisjoint(described)) / len(asked)


def load_aspects(path: Path, *, segmenter: Segmenter) -> Aspects:
    """Read an aspects file; every problem names the file, the entry number and the field."""
    entries = []
    for where, item in entries_of(path, "aspects file", ("aspect", "asks", "statute")):
        name = item["aspect"]
        if not isinstance(name, str) or not name.strip():
            raise ParseError(f"{where}: 'aspect' must be a name")
        for key in ("asks", "statute"):
            if not is_word_list(item[key]):
                raise ParseError(f"{where}: '{key}' must be a non-empty list of words")
        terms = set()
        for word in item["statute"]:
            found = segmenter.terms(word)
            if not found:
                raise ParseError(f"{where}: 'statute' word {word!r} has no search term")
            terms.add(found[0])  # the whole word as indexed (Sudachi's normalised form), not its parts
        entries.append(Aspect(name.strip(), tuple(normalize(s) for s in item["asks"]), frozenset(terms)))
    return Aspects(tuple(entries))
