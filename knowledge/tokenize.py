"""Japanese segmentation for full-text search.

LanceDB's own tokenizers do not segment Japanese (DESIGN.md), so text is
segmented here with Sudachi and stored as a space-joined column that LanceDB
indexes with its ``whitespace`` tokenizer. Queries go through the same
function, so index and query terms always agree.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sudachipy import Dictionary, SplitMode

from knowledge.numerals import KANJI_NUMBER_CHARS

# Parts of speech that carry no topic: particles, auxiliaries, symbols, blanks.
_DROPPED_POS = frozenset({"助詞", "助動詞", "補助記号", "記号", "空白"})
# Content-free words that survive POS filtering but match almost every article.
_STOP_WORDS = frozenset(
    {
        # normalized forms (Sudachi writes する as 為る, できる as 出来る, その as 其の)
        "為る",
        "有る",
        "居る",
        "成る",
        "出来る",
        "言う",
        "事",
        "物",
        "為",
        "様",
        "時",
        "所",
        "置く",
        "こと",
        "もの",
        "ため",
        "とき",
        "よう",
        "おく",
        "ところ",
        "場合",
        "其の他",
        "此れ",
        "其れ",
        "此の",
        "其の",
        "当該",
        "又",
        "又は",
        "及び",
        "並びに",
        "若しくは",
        "無い",
        "前項",
        "同項",
        "次",
        "規定",
        "定める",
        "項",
        "号",
        "条",
        "ほか",
        "外",
    }
)
# Words that make a sentence a question, not what it is about (normalized forms). Dropped from
# queries only: 何 / いつ / 誰 / どう … and colloquial auxiliaries (遣る = やる, 行く in 〜ていく, 欲しい).
QUESTION_WORDS = frozenset(
    {
        "何",
        "何故",
        "誰",
        "いつ",
        "どう",
        "どこ",
        "どれ",
        "どの",
        "どんな",
        "如何",
        "幾ら",
        "何回",
        "何割",
        "何日",
        "何歳",
        "何人",
        "何時間",
        "何円",
        "どういう",
        "要る",  # 「許可は要る？」
        "大丈夫",  # 「参加させても大丈夫？」
        "駄目",  # 「出さないとだめ？」
        "ok",
        "オーケー",
        "不味い",  # 「手伝うのはまずい？」
        "教える",
        "根拠",  # 「…の根拠は？」 asks for the basis; it names no subject
        "条文",  # 「…を定めた条文は？」 asks for the article, as every answer is one
        "うち",  # 「次のうち」
        "内",
        "欲しい",
        "遣る",
        "行く",
        "良い",
        "仕舞う",
        "知れる",
        "貰う",
        "呉れる",
        "来る",
        "頂く",
    }
)
_MORPHEME_CACHE_SIZE = 200_000  # distinct dictionary entries kept per thread
_SUDACHI_MAX_BYTES = 49_000  # Sudachi rejects inputs over ~49 KB; split longer texts


def normalize(text: str) -> str:
    """NFKC, the first step for every text kairan compares (full-width digits, half-width kana)."""
    return unicodedata.normalize("NFKC", text)


def normalize_question(text: str) -> str:
    """``normalize`` for what staff type: a circled number right after an article (自治法242条の2①,
    the 六法's mark for a paragraph) reads as that paragraph, 第1項, where NFKC alone would run it
    into the number before it (242条の21)."""
    if not _CIRCLED_MARK.search(text):
        return unicodedata.normalize("NFKC", text)
    out: list[str] = []
    for ch in text:
        out.append(circled_paragraph(ch, out[-1][-1:] if out else "") or unicodedata.normalize("NFKC", ch))
    return unicodedata.normalize("NFKC", "".join(out))


_CIRCLED = {chr(0x2460 + n): n + 1 for n in range(20)}  # ①..⑳
_CIRCLED_MARK = re.compile("[\u2460-\u2473]")
_NUMBER_END = re.compile(rf"[0-9条{KANJI_NUMBER_CHARS}]")


def circled_paragraph(ch: str, before: str) -> str:
    """``第N項`` for a circled number N that follows an article's number or 条; else ''."""
    number = _CIRCLED.get(ch)
    return f"第{number}項" if number is not None and _NUMBER_END.fullmatch(before) else ""


@dataclass(frozen=True)
class WordBounds:
    """Where words begin and end in a normalised text (Sudachi's shortest units).

    A particle or an auxiliary begins and ends no word of its own: 「におい」 is not named by 「…において」
    (に・おい・て), though a topic may hold one inside (「道路の占用」).
    """

    starts: frozenset[int] = frozenset()
    ends: frozenset[int] = frozenset()

    def whole(self, start: int, end: int) -> bool:
        """Whether the text from ``start`` to ``end`` is whole words."""
        return start in self.starts and end in self.ends


@dataclass(frozen=True)
class QueryTerms:
    terms: list[str]
    nouns: frozenset[str]  # which of them are nouns: the candidates for a question's key concept
    words: WordBounds = WordBounds()  # where its words begin and end (Segmenter.boundaries)
    # The terms with the question words kept (いつ, 誰, 何日 …): the staff phrasings are written as
    # questions, so there these words say what is asked.
    asked: list[str] = field(default_factory=list)


# A dictionary entry's (term, is_noun) pairs, and the offsets inside it where its shortest units meet
# (None for a particle, an auxiliary or a symbol: no word begins or ends there).
_MorphemeEntry = tuple[tuple[tuple[str, bool], ...], tuple[int, ...] | None]


class Segmenter:
    """Sudachi-based segmenter producing search terms.

    Mode C keeps compounds whole (行政財産), mode A adds their parts (行政, 財産),
    so a question that says 財産 still meets an article that says 行政財産.
    Sudachi tokenizers are not thread-safe, so each thread gets its own.
    """

    def __init__(self, *, with_subwords: bool = True) -> None:
        self._dictionary = Dictionary(dict="core")
        self._with_subwords = with_subwords
        self._local = threading.local()

    def _tokenizer(self):  # type: ignore[no-untyped-def]
        tok = getattr(self._local, "tokenizer", None)
        if tok is None:
            # sudachipy ≥ 0.7 names it tokenizer(); older releases only have create().
            factory = getattr(self._dictionary, "tokenizer", None) or self._dictionary.create
            tok = factory(mode=SplitMode.C)
            self._local.tokenizer = tok
        return tok

    def analyze(self, text: str) -> list[tuple[str, bool]]:
        """(term, is_noun) in order; duplicates kept, since term frequency matters."""
        return self._analyze(text, None)

    def _analyze(self, text: str, cuts: tuple[set[int], set[int]] | None) -> list[tuple[str, bool]]:
        """``analyze``; with ``cuts``, also collects the offsets in ``normalize(text)`` where a word
        begins and where one ends (Sudachi's shortest units; see ``WordBounds``), from the same
        tokenisation."""
        out: list[tuple[str, bool]] = []
        tokenizer = self._tokenizer()
        cache = self._morpheme_cache()
        offset = 0
        for piece in _pieces(normalize(text)):
            for morpheme in tokenizer.tokenize(piece):
                # Legal text repeats a small vocabulary: a dictionary entry's terms are worked out once.
                key = (morpheme.word_id(), morpheme.surface())
                entry = cache.get(key)
                if entry is None:
                    if len(cache) >= _MORPHEME_CACHE_SIZE:
                        cache.clear()
                    entry = cache[key] = self._morpheme_entry(morpheme)
                terms, inner = entry
                out.extend(terms)
                if cuts is not None and inner is not None:
                    starts, ends = cuts
                    begin = offset + morpheme.begin()
                    inside = [begin + cut for cut in inner]
                    starts.update((begin, *inside))
                    ends.update((*inside, offset + morpheme.end()))
            offset += len(piece)
        return out

    def _morpheme_cache(self) -> dict[tuple[int, str], _MorphemeEntry]:
        cache = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = {}
        return cache

    def _morpheme_entry(self, morpheme: Any) -> _MorphemeEntry:
        """The morpheme's terms, and where its shortest units meet inside it (offsets from its start)."""
        pos = morpheme.part_of_speech()[0]
        if pos in _DROPPED_POS:
            return (), None
        parts = morpheme.split(SplitMode.A)  # empty for a unit Sudachi cannot split
        inner = tuple(part.begin() - morpheme.begin() for part in list(parts)[1:])
        out: list[tuple[str, bool]] = []
        term = _clean(morpheme.normalized_form())
        if term and term not in _STOP_WORDS:
            out.append((term, pos == "名詞"))
        if self._with_subwords and len(parts) > 1:
            for part in parts:
                sub = _clean(part.normalized_form())
                sub_pos = part.part_of_speech()[0]
                if sub and sub != term and sub not in _STOP_WORDS and sub_pos not in _DROPPED_POS:
                    out.append((sub, sub_pos == "名詞"))
        return tuple(out), inner

    def boundaries(self, text: str) -> WordBounds:
        """Where the words of ``normalize(text)`` begin and end (Sudachi's shortest units).

        Lets a phrase match be held to whole words: 「がけ」 is not in 「住民がけがをした」.
        """
        return self._bounded(text)[1]

    def terms(self, text: str) -> list[str]:
        """Search terms of ``text`` in order (duplicates kept)."""
        return [term for term, _ in self.analyze(text)]

    def query_terms(self, text: str, *, drop_question_words: bool = True) -> QueryTerms:
        """Distinct terms of a question, without the words that only make it a question."""
        dropped = QUESTION_WORDS if drop_question_words else frozenset()
        everything, words = self._bounded(text)
        analyzed = [(t, noun) for t, noun in everything if t not in dropped]
        terms = list(dict.fromkeys(t for t, _ in analyzed))
        asked = list(dict.fromkeys(t for t, _ in everything))
        return QueryTerms(terms, frozenset(t for t, noun in analyzed if noun), words, asked)

    def _bounded(self, text: str) -> tuple[list[tuple[str, bool]], WordBounds]:
        """``analyze`` and the word bounds, from one tokenisation."""
        starts: set[int] = set()
        ends: set[int] = set()
        analyzed = self._analyze(text, (starts, ends))
        return analyzed, WordBounds(frozenset(starts), frozenset(ends))

    def joined(self, text: str) -> str:
        """Terms as one space-joined string, the form stored in the FTS column."""
        return " ".join(self.terms(text))


def compound_parts(terms: Sequence[str]) -> frozenset[str]:
    """The terms that are part of a longer term in the same list (有権 and 者 beside 有権者)."""
    return frozenset(t for t in terms if any(t != other and t in other for other in terms))


def _clean(term: str) -> str:
    term = term.strip().lower()
    if not term or term.isspace():
        return ""
    # Whitespace-tokenised FTS: a term must not contain spaces.
    return re.sub(r"\s+", "", term)


def _pieces(text: str) -> Iterable[str]:
    """Split text into pieces Sudachi accepts, at line breaks where possible; linear in the text."""
    if len(text) * 4 <= _SUDACHI_MAX_BYTES or len(text.encode("utf-8")) <= _SUDACHI_MAX_BYTES:
        yield text
        return
    buf: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        n = len(line.encode("utf-8"))
        if size + n > _SUDACHI_MAX_BYTES and buf:
            yield "".join(buf)
            buf, size = [], 0
        if n > _SUDACHI_MAX_BYTES:  # a single enormous line
            yield from _cut(line)
            continue
        buf.append(line)
        size += n
    if buf:
        yield "".join(buf)


def _cut(line: str) -> Iterable[str]:
    """Pieces of one long line, each at most _SUDACHI_MAX_BYTES, after a 。 where one is in reach.

    Widths are counted in characters (at most 4 UTF-8 bytes each), so nothing is re-encoded.
    """
    width = _SUDACHI_MAX_BYTES // 4
    start = 0
    while start < len(line):
        end = min(start + width, len(line))
        if end < len(line):
            stop = line.rfind("。", start + width // 2, end)
            if stop != -1:
                end = stop + 1
        yield line[start:end]
        start = end
