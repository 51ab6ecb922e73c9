"""How much of a question a set of terms covers: the one rule the ranking and the decision share.

Each question term counts with its idf, and is covered when it is present itself or through the
statute wording of a glossary entry it triggers (副業 asked, 営利企業 in the article). Built once per
question: the best articles are each measured on the same terms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knowledge.glossary import Expansion


class Coverage:
    def __init__(
        self, terms: Sequence[str], expansions: Sequence[Expansion], idf: Callable[[str], float]
    ) -> None:
        self._weights = {t: idf(t) for t in terms}
        self._total = sum(self._weights.values())  # every candidate is measured against the same mass
        wording = {  # question term → the statute words that stand for it
            t: frozenset(w for e in expansions if t in e.trigger_terms for w in e.terms) for t in terms
        }
        self._terms = frozenset(self._weights)
        self._wording = {t: w for t, w in wording.items() if w}  # only the terms that have any

    def found(self, present: Set[str]) -> set[str]:
        """The question terms ``present`` covers, directly or through their statute wording."""
        found = set(self._terms.intersection(present))  # measured once per candidate: kept to set operations
        found.update(t for t, wording in self._wording.items() if not present.isdisjoint(wording))
        return found

    def share(self, present: Set[str]) -> float:
        """Share of the question's idf mass that ``present`` covers."""
        return self.part(self.found(present))

    def part(self, found: Set[str], among: Sequence[str] | None = None) -> float:
        """Share of the idf mass of ``among`` (question terms; default all of them) that ``found`` holds."""
        terms = self._weights if among is None else among
        total = self._total if among is None else sum(self._weights[t] for t in terms)
        return sum(self._weights[t] for t in terms if t in found) / total if total else 0.0
