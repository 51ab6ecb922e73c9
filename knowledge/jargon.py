"""Staff abbreviations in a question, read as the full form (生保 → 生活保護, 随契 → 随意契約).

Staff write the short forms they use at the counter; article texts, the staff phrasings, the topic
catalogue and the article model mostly say the full one, so 「生保の受給者」 met fewer of them than
「生活保護の受給者」. The table is ``knowledge/data/jargon.yaml`` (admins may add their own file). A short
form is read as its full form only as whole words (生保 in 衛生保健 is not), never where the full form is
already written (指定管理 in 指定管理者) and never inside a law's abbreviation (国保法 is the 国民健康保険法
the citation finder knows).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from knowledge.documents import ParseError
from knowledge.tokenize import Segmenter, WordBounds, normalize
from knowledge.yaml_files import entries_of, is_word_list

DEFAULT_JARGON = Path(__file__).resolve().parent / "data" / "jargon.yaml"


@dataclass(frozen=True)
class JargonEntry:
    short: tuple[str, ...]  # NFKC-normalised short forms
    full: str


class Jargon:
    def __init__(
        self, entries: Sequence[JargonEntry], *, segmenter: Segmenter, protected: Iterable[str] = ()
    ) -> None:
        """``protected``: words never rewritten inside (the law abbreviations: 国保法, 生保法)."""
        self._segmenter = segmenter
        pairs = {short: entry.full for entry in entries for short in entry.short}
        self._shorts = tuple(pairs)
        self._by_first: dict[str, list[tuple[str, str]]] = {}
        for short, full in sorted(pairs.items(), key=lambda item: -len(item[0])):  # longest first
            self._by_first.setdefault(short[0], []).append((short, full))
        self._protected: dict[str, list[str]] = {}
        for word in map(normalize, protected):
            self._protected.setdefault(word[0], []).append(word)

    @classmethod
    def load(
        cls, paths: Sequence[Path] | None = None, *, segmenter: Segmenter, protected: Iterable[str] = ()
    ) -> Jargon:
        entries: list[JargonEntry] = []
        for path in paths or [DEFAULT_JARGON]:
            entries.extend(load_entries(path))
        return cls(entries, segmenter=segmenter, protected=protected)

    def expand(self, text: str) -> str:
        """``text`` (normalised) with each short form read as its full one."""
        if not any(short in text for short in self._shorts):
            return text  # no Sudachi pass for the usual question
        words = self._segmenter.boundaries(text)
        out: list[str] = []
        start = n = 0
        while n < len(text):
            found = self._short_at(text, n, words)
            if found is None:
                n += 1
                continue
            short, full = found
            out += [text[start:n], full]
            n = start = n + len(short)
        out.append(text[start:])
        return "".join(out)

    def _short_at(self, text: str, n: int, words: WordBounds) -> tuple[str, str] | None:
        """The short form that begins at ``n`` as whole words, with its full form; None if none does."""
        candidates = self._by_first.get(text[n])
        if not candidates or n not in words.starts:
            return None
        if any(text.startswith(word, n) for word in self._protected.get(text[n], ())):
            return None
        for short, full in candidates:
            if text.startswith(short, n) and words.whole(n, n + len(short)) and not text.startswith(full, n):
                return short, full
        return None


def load_entries(path: Path) -> list[JargonEntry]:
    """Read a jargon file; every problem names the file and the entry number."""
    entries = []
    for where, item in entries_of(path, "jargon table", ("short", "full")):
        short, full = item["short"], item["full"]
        if not is_word_list(short):
            raise ParseError(f"{where}: 'short' must be a non-empty list of words")
        if not isinstance(full, str) or not full.strip():
            raise ParseError(f"{where}: 'full' must be a word")
        if any(normalize(s) == normalize(full) for s in short):
            raise ParseError(f"{where}: a short form equals its full form {full!r}")
        entries.append(JargonEntry(tuple(normalize(s).strip() for s in short), normalize(full).strip()))
    return entries
