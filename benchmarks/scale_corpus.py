"""Realistic variants of the real corpus, for measuring the knowledge base at 100k–1M articles.

Each variant of a real law keeps its shape (chapters, captions, paragraph structure,
附則) but gets its own law id, title, law number and article numbering, and its wording
changes: about a quarter of its kanji words are swapped for other words of the corpus,
drawn by corpus frequency, and some become new compounds of two corpus words, so the
vocabulary grows the way it does across the whole body of Japanese law. Variants are
written as e-Gov-derived law Markdown, so ingesting them runs the real pipeline
(read → parse → chunk → segment → write).

Pure functions; ``benchmarks/scale.py`` drives them.
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from knowledge.documents import ParsedDocument, ParsedSection, Part
from knowledge.numerals import int_to_kanji, num_to_article_title

# Kanji words to vary: runs of 2–8 kanji that are not article or numeral references.
_KANJI_RUN = re.compile(r"[\u4e00-\u9fff々]{2,8}")
_REFERENCE_CHARS = frozenset("第条項号一二三四五六七八九十百千万〇年月日又及並若")
_TITLE_SUFFIXES = {"AC": ("法律", "特別措置法", "推進法"), "CO": ("法施行令",), "M": ("法施行規則",)}
_ERAS = (("昭和", "3"), ("平成", "4"), ("令和", "5"))


@dataclass(frozen=True)
class Vocabulary:
    words: tuple[str, ...]
    cumulative: tuple[int, ...]  # cumulative frequencies, for draws weighted like the corpus

    @classmethod
    def from_documents(cls, docs: Iterable[ParsedDocument]) -> Vocabulary:
        counts: Counter[str] = Counter()
        for doc in docs:
            for section in doc.sections:
                counts.update(w for w in _KANJI_RUN.findall(section.text) if _variable(w))
        if not counts:
            raise ValueError("no kanji words to vary in the base documents")
        words, freqs = zip(*counts.most_common(), strict=True)
        return cls(tuple(words), tuple(itertools.accumulate(freqs)))

    def draw(self, rng: random.Random) -> str:
        return self.words[bisect.bisect_right(self.cumulative, rng.randrange(self.cumulative[-1]))]


def _variable(word: str) -> bool:
    return not (set(word) & _REFERENCE_CHARS)


def vary_text(text: str, rng: random.Random, vocab: Vocabulary, *, rate: float, coin_rate: float) -> str:
    """``text`` with about ``rate`` of its kanji words replaced; some replacements are new compounds."""

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        if not _variable(word) or rng.random() >= rate:
            return word
        new = vocab.draw(rng)
        if rng.random() < coin_rate:
            new = (new + vocab.draw(rng))[:8]
        return new

    return _KANJI_RUN.sub(swap, text)


def variant_id(base: ParsedDocument, serial: int) -> tuple[str, str]:
    """(law id, type code) of a variant: the base's era and type, a serial number no real law uses."""
    match = re.match(r"^(\d{3})(AC|CO|M)", base.doc_id)
    era, code = (match.group(1), match.group(2)) if match else ("5" + f"{serial % 7:02d}", "AC")
    return f"{era}{code}9{serial:09d}", code


def make_variant(
    base: ParsedDocument, serial: int, vocab: Vocabulary, *, rate: float = 0.25, coin_rate: float = 0.05
) -> ParsedDocument:
    rng = random.Random(f"{base.doc_id}:{serial}")
    law_id, code = variant_id(base, serial)
    suffix = rng.choice(_TITLE_SUFFIXES[code])
    title = f"{vocab.draw(rng)}及び{vocab.draw(rng)}に関する{suffix}"
    era_name, _ = rng.choice(_ERAS)
    kind_word = {"AC": "法律", "CO": "政令", "M": "省令"}[code]
    law_num = f"{era_name}{int_to_kanji(rng.randint(1, 40))}年{kind_word}第{int_to_kanji(serial % 300 + 1)}号"
    sections: list[ParsedSection] = []
    main = suppl = 0
    for section in base.sections:
        if section.key == "preamble" or rng.random() < 0.08:  # some articles are absent in the variant
            continue
        if section.part is Part.SUPPL:
            suppl += 1
            number = suppl
        else:
            main += 1
            number = main
        sections.append(
            ParsedSection(
                key=str(number),
                label=num_to_article_title(str(number)),
                text=vary_text(section.text, rng, vocab, rate=rate, coin_rate=coin_rate),
                caption=vary_text(section.caption, rng, vocab, rate=rate, coin_rate=0.0),
                path=section.path if section.part is not Part.SUPPL else (),
                part=Part.SUPPL if section.part is Part.SUPPL else Part.MAIN,
            )
        )
    return ParsedDocument(
        doc_id=law_id, kind=base.kind, title=title, sections=tuple(sections), law_num=law_num
    )


def render_markdown(doc: ParsedDocument) -> str:
    """The law as e-Gov-derived Markdown (the format ``knowledge.parsers.markdown`` reads)."""
    lines = [f"# {doc.title}", "", f"*（{doc.law_num}）*", ""]
    path: tuple[str, ...] = ()
    in_suppl = False
    for section in doc.sections:
        if section.part is Part.SUPPL and not in_suppl:
            lines += ["", "## 附則", ""]
            in_suppl = True
        if not in_suppl and section.path != path:
            for depth, heading in enumerate(section.path):
                if depth >= len(path) or path[depth] != heading:
                    lines += ["", f"{'#' * min(depth + 2, 6)} {heading}", ""]
            path = section.path
        if section.caption:
            lines += ["", section.caption]
        lines += ["", f'<a id="{section.label}"></a>', f"**{section.label}**"]
        lines += [line for line in section.text.splitlines() if line.strip() and not line.startswith("#")]
    return "\n".join(lines) + "\n"


def variants(
    bases: Sequence[ParsedDocument], vocab: Vocabulary, *, target_chunks: int
) -> Iterator[ParsedDocument]:
    """Variants round-robin over ``bases`` until they hold at least ``target_chunks`` articles."""
    total = 0
    for serial in itertools.count(1):
        if total >= target_chunks:
            return
        doc = make_variant(bases[serial % len(bases)], serial, vocab)
        if doc.sections:
            total += len(doc.sections)
            yield doc
