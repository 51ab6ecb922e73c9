"""How probably a question is about a law the knowledge base does not hold, read against every law it holds.

The topic catalogue's classifier (knowledge/topic_classifier.py) weighs the lines of the catalogue's
laws against each other; a held law's articles are not among them, so a question that describes an
absent law's institution in a held law's words reads as nothing in particular
(「前の会社の健康保険を続けたい」: 健康保険法's 任意継続, in 国民健康保険法's words).
This model is trained on both sides at once, as the article model is (knowledge/article_model.py, with
a cheaper recipe): each held law's phrasing and words lines are examples of that law ("held:<doc_id>"),
the catalogue's topics and asks of each law not held examples of it ("absent:<law>"). The decision
reads the probability that a question reads as any output its search's scope does not hold
(``learned_absent``, knowledge/sufficiency.py).

Trained at ingest beside the article model, when the lines or the laws held change (about 5 s for
the shipped lines, on the core the article model's three members on two leave free). One output per
law, not per article: measured with the decision refitted and each fitted set left out
(benchmarks/sufficiency.py), per-law outputs read as well as per-article ones at a fraction of the
training (docs/retrieval-history.md, *Since 48df2e9*).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from knowledge.article_model import ArticleModel, Recipe

FILE_NAME = "absent_model.npz"
HELD = "held:"  # the output of a held law-like document: "held:<doc_id>"
ABSENT = "absent:"  # the output of a catalogue law not held: "absent:<law>"
# One member of 32 dimensions, four passes: the decision read alike with three members, 64 dimensions or
# eight passes, each at two to five times the training.
RECIPE = Recipe("laws", dim=32, members=1, epochs=4, min_steps=375)


def examples(
    lines: Iterable[tuple[str, str, str]], absent_lines: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """(output, text) examples from the stored (doc_id, article, text) lines and the (law, line) catalogue
    lines of laws not held; none unless there are both (nothing to tell apart)."""
    held = [(HELD + doc_id, text) for doc_id, _, text in lines]
    absent = [(ABSENT + law, line) for law, line in absent_lines]
    return held + absent if held and absent else []


@dataclass(frozen=True)
class AbsentReading:
    """What the model makes of one question in one scope."""

    log_share: float  # log-probability that it reads as a law the scope does not hold
    known: frozenset[str]  # doc ids of the held laws the model was trained on

    def about(self, doc_id: str) -> float | None:
        """``log_share`` when the model knows the law of ``doc_id`` (the best hit's), else None: it knows
        nothing of a document without lines (an admin's 例規), so its reading is no evidence against one."""
        return self.log_share if doc_id in self.known else None


@dataclass(frozen=True, eq=False)  # arrays
class ScopeReader:
    """The model read for one scope of the store: which of its outputs that scope does not hold."""

    model: ArticleModel
    not_held: npt.NDArray[np.bool_]  # one flag per output
    known: frozenset[str]

    @classmethod
    def of(cls, model: ArticleModel, held_doc_ids: Collection[str]) -> ScopeReader:
        """``held_doc_ids``: the law-like documents the scope holds (one held elsewhere counts as absent)."""
        known = frozenset(o.removeprefix(HELD) for o in model.articles if o.startswith(HELD))
        not_held = np.array(
            [not (o.startswith(HELD) and o.removeprefix(HELD) in held_doc_ids) for o in model.articles]
        )
        return cls(model, not_held, known)

    def read(self, text: str) -> AbsentReading:
        return AbsentReading(self.model.read(text).log_share(self.not_held), self.known)
