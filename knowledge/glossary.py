"""The administrative glossary: everyday expressions → statute wording, as weighted query expansion.

Staff ask 「副業」; the statute says 「営利企業への従事」. General synonyms do not
bridge that gap (DESIGN.md), so kairan keeps its own glossary of administrative
vocabulary (``knowledge/data/glossary.yaml``; admins may add their own file).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from knowledge.documents import ParseError
from knowledge.tokenize import Segmenter, normalize
from knowledge.yaml_files import entries_of, is_word_list

DEFAULT_GLOSSARY = Path(__file__).resolve().parent / "data" / "glossary.yaml"


@dataclass(frozen=True)
class GlossaryEntry:
    say: tuple[str, ...]  # NFKC-normalised triggers, matched as substrings of the question
    statute: tuple[str, ...]  # statute wording as written


@dataclass(frozen=True)
class Expansion:
    trigger: str
    trigger_terms: tuple[str, ...]  # the question's own terms this expansion stands for
    terms: tuple[str, ...]  # search terms of the statute wording


class Glossary:
    def __init__(self, entries: Sequence[GlossaryEntry], *, segmenter: Segmenter) -> None:
        self.entries = tuple(entries)
        # Segment once: expansions are looked up on every question.
        self._terms = [
            tuple(dict.fromkeys(t for phrase in e.statute for t in segmenter.terms(phrase)))
            for e in self.entries
        ]
        self._trigger_terms = {say: tuple(segmenter.terms(say)) for e in self.entries for say in e.say}

    @classmethod
    def load(cls, paths: Sequence[Path] | None = None, *, segmenter: Segmenter) -> Glossary:
        entries: list[GlossaryEntry] = []
        for path in paths or [DEFAULT_GLOSSARY]:
            entries.extend(load_entries(path))
        return cls(entries, segmenter=segmenter)

    def expand(self, question: str) -> list[Expansion]:
        text = normalize(question)
        out: list[Expansion] = []
        for entry, terms in zip(self.entries, self._terms, strict=True):
            trigger = next((s for s in entry.say if s in text), None)
            if trigger is not None and terms:
                out.append(Expansion(trigger, self._trigger_terms[trigger], terms))
        return out


def load_entries(path: Path) -> list[GlossaryEntry]:
    """Read a glossary file; every problem names the file and the entry number."""
    entries = []
    for where, item in entries_of(path, "glossary", ("say", "statute")):
        say, statute = item["say"], item["statute"]
        for key, value in (("say", say), ("statute", statute)):
            if not is_word_list(value):
                raise ParseError(f"{where}: '{key}' must be a non-empty list of words")
        entries.append(GlossaryEntry(tuple(normalize(s) for s in say), tuple(statute)))
    return entries
