"""Person names next to a cue (山田太郎様, 田中さん, 佐藤氏, 鈴木課長, 氏名：山田太郎), found with Sudachi.

Sudachi's dictionary tags surnames and given names (名詞,固有名詞,人名,姓 / 名); a name is the run of
such words (spaces between them allowed) right before an honorific suffix (接尾辞: 様, さん, 氏, 殿,
君, くん, ちゃん) or a job title (課長, 先生 …), or right after a label (氏名, 名前, 申請者, 相談者, 名義 …).
Words that only look like it stay: 同様, 態様, 様式, 皆様, お客様, 担当者様, 職員さん, 市長さん, 氏名,
婚姻前の氏. Only short windows around the cues are analysed, so long texts stay cheap.

Once a name is found, it is the person's wherever else the message writes it, cue or none: 「中村さん
（中村 浩二、…）」 gives 中村 by its さん, and then 中村 浩二 (the name with the words of a name after it).
A bank account's holder is written in katakana as often as not (名義 ヤマダ タロウ): a kana run after 名義
or a reading label (ふりがな：…) is a name too, and so is a name's reading in brackets after it
(菊地 貴之（キクチ タカユキ）), also before an honorific (前田 勝（まえだ まさる）様: both are
names). A surname met again, followed by a space and kanji the dictionary cannot read as a name, takes
them as its given name (伊藤 蒼空).

Not found: a name with no cue next to it (「市民の鈴木が来庁」), names Sudachi does not know (rare
surnames such as 四十八願) and names written in hiragana with no reading label.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from bot.redaction.findings import Finding

HONORIFICS = frozenset({"様", "さん", "氏", "殿", "君", "くん", "ちゃん"})  # suffixes (接尾辞)
TITLES = frozenset({  # job titles after a name: 田中課長, 鈴木先生
    "課長", "係長", "部長", "主任", "主査", "主事", "局長", "室長", "所長", "次長", "課長補佐", "先生",
    "議員",
})
LABELS = frozenset({  # before a name: 氏名：山田太郎, 相談者は山田太郎, 元夫 青木隆
    "氏名", "名前", "お名前", "申請者", "世帯主", "届出人", "相談者", "対象者", "来庁者", "契約者", "依頼者",
    "差出人", "保護者", "名義", "名義人", "口座名義", "旧姓", "元夫", "元妻", "長男", "長女", "次男", "次女",
})
_HONORIFIC = "|".join(sorted(HONORIFICS, key=len, reverse=True))
_SUFFIX_CUE = re.compile("|".join(sorted(HONORIFICS | TITLES, key=len, reverse=True)))
_LABEL_CUE = re.compile("|".join(sorted(LABELS, key=len, reverse=True)))
_BEFORE = 24  # characters analysed before a suffix: longer than any name with its spaces
_AFTER = 16  # characters analysed after a label
_SKIPPED_AFTER_LABEL = frozenset({"補助記号", "空白", "助詞"})  # 氏名：/ 名前は / 申請者 …
# A name in kana: katakana, or hiragana in two parts (a hiragana word alone is no name: 名義でした).
_KANA_NAME = "([ァ-ヴー]{2,}(?:[ 　][ァ-ヴー]{1,})?|[ぁ-ゖー]{2,}[ 　][ぁ-ゖー]{1,})"
_READING_LABEL = "名義人?|ふりがな|フリガナ|よみがな|ヨミガナ|カナ氏名"
# A name in kana after 名義 or a reading label (名義 ヤマダ タロウ, ふりがな：やまだ たろう).
_KANA_LABELLED = re.compile(f"(?:{_READING_LABEL})\\s*(?:は|:)?\\s*{_KANA_NAME}")
# After a name, its honorific between or not: 菊地 貴之(キクチ タカユキ), 菊地さん(キクチ タカユキ)
_READING = re.compile(f"\\s*(?:{_HONORIFIC})?\\s*\\(\\s*{_KANA_NAME}\\s*\\)")
# A name and its reading in brackets before the honorific: 前田 勝（まえだ まさる）様.
_READ_BEFORE_SUFFIX = re.compile(
    f"([一-鿿々]{{1,4}}[ 　]?[一-鿿々]{{1,4}})\\s*\\(\\s*{_KANA_NAME}\\s*\\)\\s*(?:{_HONORIFIC})"
)
_GIVEN_AFTER = re.compile("[ 　][一-鿿々]{1,3}(?![一-鿿々ぁ-ゖァ-ヴー])")  # 伊藤 蒼空: a given name unread
_AGAIN_AFTER = 12  # characters analysed after a name met again: its given name, spaces between


class NameFinder:
    """Sudachi (core dictionary, mode C); tokenizers are per thread (they are not thread-safe)."""

    def __init__(self) -> None:
        from sudachipy import Dictionary

        self._dictionary = Dictionary(dict="core")
        self._local = threading.local()

    def _tokenize(self, text: str) -> Any:
        tokenizer = getattr(self._local, "tokenizer", None)
        if tokenizer is None:
            from sudachipy import SplitMode

            factory = getattr(self._dictionary, "tokenizer", None) or self._dictionary.create
            tokenizer = self._local.tokenizer = factory(mode=SplitMode.C)
        return tokenizer.tokenize(text)

    def find(self, text: str) -> list[Finding]:
        found: dict[tuple[int, int], Finding] = {}
        for begin, end in _windows(text):
            for start, stop in _names(list(self._tokenize(text[begin:end]))):
                found[(begin + start, begin + stop)] = Finding("name", begin + start, begin + stop)
        for m in _KANA_LABELLED.finditer(text):
            found[m.span(1)] = Finding("name", *m.span(1))
        for m in _READ_BEFORE_SUFFIX.finditer(text):
            found[m.span(1)] = Finding("name", *m.span(1))
            found[m.span(2)] = Finding("name", *m.span(2))
        for start, stop in self._again(text, {text[f.start : f.end] for f in found.values()}):
            found[(start, stop)] = Finding("name", start, stop)
        for f in list(found.values()):
            if reading := _READING.match(text, f.end):
                found[reading.span(1)] = Finding("name", *reading.span(1))
        return _outermost(found.values())

    def _again(self, text: str, names: set[str]) -> Iterator[tuple[int, int]]:
        """Every place ``text`` writes one of ``names`` (two characters or more), with the words of a name
        right after it (its given name after a surname)."""
        for name in names:
            if len(name) < 2:
                continue
            for m in re.finditer(re.escape(name), text):
                words = list(self._tokenize(text[m.start() : m.end() + _AGAIN_AFTER]))
                run = _run(words, range(len(words)))
                stop = m.start() + run[1] if run is not None and run[0] == 0 else m.end()
                given = _GIVEN_AFTER.match(text, stop) if stop == m.end() else None
                if given is not None and given.group().strip() not in HONORIFICS | TITLES:  # not 田中 課長
                    stop = given.end()
                yield m.start(), max(stop, m.end())


def _outermost(findings: Iterable[Finding]) -> list[Finding]:
    """The findings none of the others contains, by position (中村 浩二 holds the 中村 found in it)."""
    ordered = sorted(findings, key=lambda f: (f.start, -f.end))
    kept: list[Finding] = []
    for f in ordered:
        if kept and f.end <= kept[-1].end:
            continue
        kept.append(f)
    return kept


def _windows(text: str) -> Iterator[tuple[int, int]]:
    """Merged spans around every cue: before a suffix, after a label."""
    spans = sorted(
        [(max(0, m.start() - _BEFORE), m.end()) for m in _SUFFIX_CUE.finditer(text)]
        + [(m.start(), min(len(text), m.end() + _AFTER)) for m in _LABEL_CUE.finditer(text)]
    )
    current: tuple[int, int] | None = None
    for span in spans:
        if current is not None and span[0] <= current[1]:
            current = (current[0], max(current[1], span[1]))
            continue
        if current is not None:
            yield current
        current = span
    if current is not None:
        yield current


def _is_name(morpheme: Any) -> bool:
    pos = morpheme.part_of_speech()
    return pos[0] == "名詞" and pos[1] == "固有名詞" and pos[2] == "人名"


def _is_suffix(morpheme: Any) -> bool:
    surface, pos = morpheme.surface(), morpheme.part_of_speech()
    return (surface in HONORIFICS and pos[0] == "接尾辞") or (surface in TITLES and pos[0] == "名詞")


def _run(words: list[Any], indices: Iterable[int]) -> tuple[int, int] | None:
    """The span of the name words met walking ``indices`` (spaces between them allowed)."""
    span: tuple[int, int] | None = None
    for j in indices:
        if _is_name(words[j]):
            begin, end = words[j].begin(), words[j].end()
            span = (begin, end) if span is None else (min(span[0], begin), max(span[1], end))
        elif words[j].part_of_speech()[0] != "空白":
            break
    return span


def _before_suffix(words: list[Any], i: int) -> tuple[int, int] | None:
    """The name before the suffix at ``i``: the run of name words, with what the dictionary splits off a
    name it half knows — a single kanji after the name words (菅原 優|斗さん), and a surname it reads as a
    place before a given name (千葉 真由美さん: 千葉 is a 地名 to it)."""
    first = i - 1
    if first >= 1 and _is_lone_kanji(words[first]) and _is_name(words[first - 1]):
        first -= 1  # 斗 of 優斗, read as a counter
    span = _run(words, range(first, -1, -1))
    if span is None:
        return None
    if first < i - 1:
        span = (span[0], words[i - 1].end())
    start = next(j for j in range(first, -1, -1) if words[j].begin() == span[0])
    if words[start].part_of_speech()[3] == "名":  # a given name: the surname may stand before it
        before = start - 1
        if before >= 0 and words[before].part_of_speech()[0] == "空白":
            before -= 1
        if before >= 0 and _is_surname_like(words[before]):
            span = (words[before].begin(), span[1])
    return span


def _is_lone_kanji(morpheme: Any) -> bool:
    surface = morpheme.surface()
    return len(surface) == 1 and _is_kanji(surface) and morpheme.part_of_speech()[0] == "名詞"


def _is_surname_like(morpheme: Any) -> bool:
    """A proper noun of one to three kanji (人名 or 地名: many surnames are place names)."""
    surface, pos = morpheme.surface(), morpheme.part_of_speech()
    return pos[1] == "固有名詞" and 1 <= len(surface) <= 3 and all(_is_kanji(ch) for ch in surface)


def _is_kanji(ch: str) -> bool:
    return "一" <= ch <= "鿿"


def _names(words: list[Any]) -> Iterator[tuple[int, int]]:
    """(start, end) of every name before a suffix or after a label, in the analysed window."""
    for i, word in enumerate(words):
        if _is_suffix(word):
            span = _before_suffix(words, i)
        elif word.surface() in LABELS:
            j = i + 1
            while j < len(words) and j <= i + 3 and words[j].part_of_speech()[0] in _SKIPPED_AFTER_LABEL:
                j += 1
            span = _run(words, range(j, len(words)))
        else:
            continue
        if span is not None:
            yield span
