"""Explicit citations in a question: 「自治法238条の4」 → 地方自治法, article "238_4".

Pure functions over a ``LawTitleIndex`` built from the laws actually in the
knowledge base plus a table of customary abbreviations
(``knowledge/data/law_abbreviations.yaml``).

How a question is read:

1. It is normalised with NFKC character cluster by character cluster, keeping a
   map back to the original offsets, so spans always refer to the input string.
2. Article references are found: 第二百三十八条の四, ２３８条の４, 38条1項2号,
   ranges (第5条から第7条まで, 5～7条), 同条第2項, and paragraph/item
   continuations (第1項及び第2項). 「条」 must be a real article reference:
   条例, 条件, 条約, 条理, 条項 are not.
3. Law names are found left to right, longest first: official titles, the
   parenthesised name of titles such as 「昭和二十二年法律第五十四号（…）」,
   abbreviations, 同法/同令/同規則 (the last named law of that kind), and a bare
   施行令/施行規則/施行規程 (the last named law's order or rules, when the index has it).
4. An article takes the law named right before it (only spaces, a closing
   quote, a parenthesised law number or a particle such as の/では in between),
   or the law of the citation it continues (、 と 及び 又は から …). Otherwise
   its law is None: 「条例第3条」 names no law of the index.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from knowledge.documents import ParseError
from knowledge.identity import is_law_id
from knowledge.numerals import KANJI_NUMBER_CHARS, parse_number
from knowledge.tokenize import circled_paragraph
from knowledge.yaml_files import load_yaml

DEFAULT_ABBREVIATIONS = Path(__file__).resolve().parent / "data" / "law_abbreviations.yaml"

RANGE_CAP = 10  # at most this many articles from one range
_SUFFIXES = ("施行令", "施行規則", "施行規程")
_MIN_NAME = 2
_DEFAULT_BASE = "地方自治法"  # what 「施行令」「施行規則」 with no law named mean to municipal staff

# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class CitationRef:
    """One article reference as written in a question."""

    law_title: str | None  # official title; None when no law of the index is named
    article: str  # e-Gov Num form: "238_4"
    paragraph: int | None
    item: int | None
    span: tuple[int, int]  # offsets in the original question
    matched: str  # question[span[0]:span[1]]


@dataclass(frozen=True)
class ResolvedCitation(CitationRef):
    """A reference with the law id it resolves to (None when the law is not in the index)."""

    law_id: str | None

    @property
    def key(self) -> str | None:
        """``law_id:Num`` as the evaluation data writes gold articles, or None without a law id."""
        return f"{self.law_id}:{self.article}" if self.law_id else None


@dataclass(frozen=True)
class _Mention:
    """A law named in the (normalised) question; title None when it cannot be resolved."""

    start: int
    end: int
    title: str | None
    law_id: str | None


# --------------------------------------------------------------------------- abbreviations


def load_abbreviations(path: Path | None = None) -> dict[str, str]:
    """Read the abbreviation table: YAML mapping official title → list of abbreviations.

    Returns abbreviation → official title. Raises ``ParseError`` naming the file
    and the entry when the file is malformed or an abbreviation names two laws.
    """
    path = path or DEFAULT_ABBREVIATIONS
    data = load_yaml(path, "abbreviation table")
    if not isinstance(data, dict) or not data:
        raise ParseError(f"{path}: expected a mapping of official title -> list of abbreviations")
    table: dict[str, str] = {}
    for title, abbrevs in data.items():
        if not isinstance(title, str) or not title.strip():
            raise ParseError(f"{path}: entry {title!r}: the key must be an official title")
        if not isinstance(abbrevs, list) or not abbrevs:
            raise ParseError(f"{path}: entry {title!r}: expected a non-empty list of abbreviations")
        for abbrev in abbrevs:
            if not isinstance(abbrev, str) or len(abbrev.strip()) < _MIN_NAME:
                raise ParseError(f"{path}: entry {title!r}: bad abbreviation {abbrev!r}")
            if abbrev == title:
                raise ParseError(f"{path}: entry {title!r}: abbreviation equals the title")
            if abbrev in table and table[abbrev] != title:
                raise ParseError(
                    f"{path}: abbreviation {abbrev!r} names both {table[abbrev]!r} and {title!r}"
                )
            table[abbrev] = title
    return table


# --------------------------------------------------------------------------- normalisation


def normalize_with_offsets(text: str) -> tuple[str, list[int], list[int]]:
    """NFKC-normalise ``text`` and map each normalised char back to the original.

    Returns (normalised, starts, ends): normalised char j comes from
    ``text[starts[j]:ends[j]]``. Characters are normalised in clusters (a base
    character plus following combining marks such as half-width ﾞ), so the result
    equals ``normalize_question`` for the texts questions contain.
    """
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i = 0
    n = len(text)
    while i < n:
        j = i + 1
        while j < n and _is_combining(text[j]):
            j += 1
        piece = circled_paragraph(text[i], out[-1][-1:] if out else "")
        piece = piece or unicodedata.normalize("NFKC", text[i:j])
        out.append(piece)
        starts.extend([i] * len(piece))
        ends.extend([j] * len(piece))
        i = j
    return "".join(out), starts, ends


def _is_combining(ch: str) -> bool:
    normalized = unicodedata.normalize("NFKC", ch)
    return bool(normalized) and unicodedata.combining(normalized[0]) != 0


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


# --------------------------------------------------------------------------- law title index

_NUMBERED_TITLE = re.compile(r"^.+?号\((?P<name>.+)\)$")  # 昭和二十二年法律第五十四号(私的独占…)


def _base_title(title: str) -> str:
    for suffix in _SUFFIXES:
        if title.endswith(suffix) and len(title) > len(suffix):
            return title[: -len(suffix)]
    return title


def _is_act(title: str) -> bool:
    return not title.endswith(("令", "規則", "規程"))


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or ch in "々〆ヶ" or "\u30a0" <= ch <= "\u30ff"


def _precedence(doc_id: str) -> tuple[bool, str]:
    """A statute (an e-Gov law id) before any other document; then the later era/year."""
    return is_law_id(doc_id), doc_id[:3]


class LawTitleIndex:
    """Law names (titles, aliases, abbreviations) → (official title, law id), NFKC-tolerant.

    Scanning a text matches the longest name at each position, using a dict of
    names keyed by their first two characters, so a 100-character question costs
    a few hundred dict probes even with all ~9,000 e-Gov titles loaded.
    """

    def __init__(self, names: Mapping[str, tuple[str, str | None]], titles: Mapping[str, str]) -> None:
        self._names = dict(names)  # normalised name -> (official title, law id or None)
        self._by_title = dict(titles)  # official title (as given) -> law id
        lengths: dict[str, set[int]] = {}
        for name in self._names:
            lengths.setdefault(name[:_MIN_NAME], set()).add(len(name))
        self._lengths = {key: sorted(values, reverse=True) for key, values in lengths.items()}

    @classmethod
    def from_titles(
        cls, pairs: Iterable[tuple[str, str]], abbreviations: Mapping[str, str] | None = None
    ) -> LawTitleIndex:
        """Build from (official title, law_id) pairs and abbreviation → official title.

        When two laws share a title, the one with the later law id era/year
        (first three characters, e.g. "507" over "323") wins, since the newer law
        replaced the older; ties keep the first pair. A statute always wins over
        another document (a notice) with the same title. Abbreviations whose title
        is not among the pairs still resolve to that title, with law id None.
        """
        titles: dict[str, str] = {}
        for title, law_id in pairs:
            if not title or not title.strip() or not law_id:
                raise ValueError(f"law title index: empty title or law id in pair {(title, law_id)!r}")
            current = titles.get(title)
            if current is None or _precedence(law_id) > _precedence(current):
                titles[title] = law_id
        names: dict[str, tuple[str, str | None]] = {}
        aliases: dict[str, tuple[str, str | None]] = {}
        for title, law_id in titles.items():
            key = _nfkc(title)
            names[key] = (title, law_id)
            numbered = _NUMBERED_TITLE.match(key)
            if numbered:
                aliases.setdefault(numbered["name"], (title, law_id))
        for alias, value in aliases.items():
            names.setdefault(alias, value)
        by_normalized = {_nfkc(title): title for title in titles}
        for abbrev, target in (abbreviations or {}).items():
            key = _nfkc(abbrev)
            if len(key) < _MIN_NAME:
                raise ValueError(
                    f"law title index: abbreviation {abbrev!r} is shorter than {_MIN_NAME} chars"
                )
            if key in names:
                continue  # an official title or alias always wins over an abbreviation
            official = by_normalized.get(_nfkc(target), target)
            names[key] = (official, titles.get(official))
        return cls(names, titles)

    def __len__(self) -> int:
        return len(self._by_title)

    def resolve(self, name: str) -> tuple[str, str | None] | None:
        """(official title, law id or None) for a title, alias or abbreviation; None if unknown."""
        return self._names.get(_nfkc(name))

    def lookup(self, name: str) -> str | None:
        """Law id for a title, alias or abbreviation (NFKC-tolerant); None if unknown or not indexed."""
        found = self.resolve(name)
        return found[1] if found else None

    def match_at(self, text: str, pos: int) -> tuple[int, tuple[str, str | None]] | None:
        """Longest name starting at ``text[pos]`` (text already NFKC): (end, (title, law id))."""
        lengths = self._lengths.get(text[pos : pos + _MIN_NAME])
        if not lengths:
            return None
        for length in lengths:
            found = self._names.get(text[pos : pos + length])
            if found is not None:
                return pos + length, found
        return None

    def scan(self, text: str, stop: int | None = None) -> list[_Mention]:
        """Law mentions in normalised ``text`` (left to right, longest first) up to ``stop``."""
        stop = len(text) if stop is None else stop
        mentions: list[_Mention] = []
        named: list[tuple[str, str | None]] = []  # resolved laws in order of mention
        pos = 0
        while pos < stop:
            mention = self._mention_at(text, pos, named)
            if mention is None:
                pos += 1
                continue
            if mention.title is not None:
                named.append((mention.title, mention.law_id))
            mentions.append(mention)
            pos = mention.end
        return mentions

    def _mention_at(self, text: str, pos: int, named: list[tuple[str, str | None]]) -> _Mention | None:
        found = self.match_at(text, pos)
        if found:
            end, (title, law_id) = found
            return _Mention(pos, end, title, law_id)
        for word, pick in (("同法", _is_act), ("同令", lambda t: t.endswith("令"))):
            if text.startswith(word, pos):
                return self._same(pos, pos + len(word), named, pick)
        if text.startswith("同規則", pos):
            return self._same(pos, pos + 3, named, lambda t: t.endswith("規則"))
        for suffix in _SUFFIXES:
            if text.startswith(suffix, pos):
                return self._derived(pos, pos + len(suffix), named, suffix)
        ch = text[pos]
        if ch in "法令" and (pos == 0 or not _is_cjk(text[pos - 1])) and _ARTICLE_AHEAD.match(text, pos + 1):
            # 「法第234条及び令第167条の2」: the act / order under discussion.
            if ch == "法":
                return self._same(pos, pos + 1, named, _is_act)
            return self._derived(pos, pos + 1, named, "施行令")
        return None

    @staticmethod
    def _same(
        start: int, end: int, named: list[tuple[str, str | None]], pick: Callable[[str], bool]
    ) -> _Mention:
        for title, law_id in reversed(named):
            if pick(title):
                return _Mention(start, end, title, law_id)
        return _Mention(start, end, None, None)

    def _derived(self, start: int, end: int, named: list[tuple[str, str | None]], suffix: str) -> _Mention:
        if named:
            title = _base_title(named[-1][0]) + suffix
            law_id = self._by_title.get(title)
            if law_id is not None:
                return _Mention(start, end, title, law_id)
            return _Mention(start, end, None, None)
        # No law named before it: a bare 「施行令」 is the only one the index holds, or else the one
        # municipal staff mean by it, 地方自治法施行令.
        held = [t for t in self._by_title if t.endswith(suffix)]
        title = held[0] if len(held) == 1 else _DEFAULT_BASE + suffix
        law_id = self._by_title.get(title)
        return _Mention(start, end, title if law_id else None, law_id)


# --------------------------------------------------------------------------- article tokens

_K = KANJI_NUMBER_CHARS
_NUM = rf"(?:[0-9]+|[{_K}]+)"
# A kanji branch number must not run into a word: 第5条の一部 is article 5, not 5_1. A number
# followed by 項 or 号 is a paragraph or an item, never a branch: staff write 242条の2の4号 for
# 第二百四十二条の二第一項第四号. Nor is a number followed by a counter: 「民法915条の3か月」 asks
# about article 915's three months.
_COUNTER = r"(?:[かヶケカヵ箇]\s*[月年]|年|日|週|時間|人|名|回|円|万|件|歳|割|倍|枚|世帯|%)"
_BRANCH_NUM = (
    rf"(?:[0-9]+(?![0-9])|[{_K}]+(?![{_K}])(?!(?![第及並又若同条])[\u3400-\u9fff]))"
    rf"(?!\s*(?:[項号]|{_COUNTER}))"
)
_JO = r"[条條](?![例件約理項])"
_BRANCHES = rf"(?:\s*[のノ]\s*{_BRANCH_NUM})*"
_PARA_ITEM = (
    rf"(?:\s*(?:第|[のノ])?\s*(?P<{{p}}>{_NUM})\s*項)?(?:\s*(?:第|[のノ])?\s*(?P<{{i}}>{_NUM})\s*号)?"
)
_RANGE_WORD = r"(?:から|~|〜|-|−|‐)"

_TOKEN = re.compile(
    "|".join(
        [
            # 5～7条, 第5から7条: a short range, one 条 for both ends.
            rf"(?P<r_dai>第\s*)?(?P<r_from>{_NUM})\s*{_RANGE_WORD}\s*第?\s*(?P<r_to>{_NUM})\s*{_JO}(?:\s*まで)?",
            rf"(?P<a_dai>第\s*)?(?P<a_main>{_NUM})\s*{_JO}(?P<a_br>{_BRANCHES})"
            + _PARA_ITEM.format(p="a_para", i="a_item"),
            # 自治法242の2: a branched number without 条, read only right after a law's name.
            rf"(?P<b_main>[0-9]+)(?P<b_br>(?:\s*[のノ]\s*[0-9]+(?![0-9]))+)(?!\s*(?:[条條項号]|{_COUNTER}))"
            + _PARA_ITEM.format(p="b_para", i="b_item"),
            r"同条" + _PARA_ITEM.format(p="s_para", i="s_item"),
            rf"同項(?:\s*第?\s*(?P<t_item>{_NUM})\s*号)?",
            rf"第?\s*(?P<c_para>{_NUM})\s*項(?:\s*第?\s*(?P<c_item>{_NUM})\s*号)?",
            rf"第?\s*(?P<d_item>{_NUM})\s*号",
        ]
    )
)
_ARTICLE_AHEAD = re.compile(rf"\s*第?\s*{_NUM}\s*{_JO}")
_BRANCH_SPLIT = re.compile(rf"[のノ]\s*({_NUM})")
_ATTACH_GAP = re.compile(r"\s*[」』】\]]?\s*(?:\([^()]{0,40}\))?\s*(?:の|では|で|は|における|上の|上|中)?\s*")
_STRICT_GAP = re.compile(r"\s*")
_LIST_GAP = re.compile(
    r"\s*[、,;]?\s*(?:と|及び|および|並びに|ならびに|又は|または|若しくは|もしくは|や|・|/)?\s*"
)
_RANGE_GAP = re.compile(rf"\s*{_RANGE_WORD}\s*")
_NO_WORD_AFTER = re.compile(r"(?![\u3400-\u9fff])|[第項号及並又若]")


@dataclass(frozen=True)
class _Law:
    title: str | None
    law_id: str | None


_NO_LAW = _Law(None, None)


@dataclass(frozen=True)
class _Cite:
    law: _Law
    article: str
    paragraph: int | None
    item: int | None
    start: int  # normalised offsets
    end: int


def _article_num(main: str, branches: str) -> str:
    parts = [str(parse_number(main))]
    parts += [str(parse_number(b)) for b in _BRANCH_SPLIT.findall(branches)]
    return "_".join(parts)


def _opt_number(text: str | None) -> int | None:
    return parse_number(text) if text else None


def _expand_articles(first: str, last: str) -> list[str]:
    """Whole articles strictly between two range ends (5 → 7 gives 6; 5 → 7_2 gives 6, 7)."""
    low = int(first.split("_")[0])
    high_main, *high_branches = last.split("_")
    high = int(high_main) + (1 if high_branches else 0)
    return [str(n) for n in range(low + 1, high)][: RANGE_CAP - 2]


class _Reader:
    """Walks tokens and mentions of one normalised question, in order."""

    def __init__(self, text: str, mentions: list[_Mention]) -> None:
        self.text = text
        self.mentions = mentions
        self.out: list[_Cite] = []
        self.prev_end = 0
        self.prev_mention: _Mention | None = None  # set when the last element was a mention
        self.prev_cites: list[_Cite] = []  # the citations of the last token, when it was one

    def feed_mention(self, mention: _Mention) -> None:
        self.prev_mention = mention
        self.prev_cites = []
        self.prev_end = mention.end

    def feed_token(self, match: re.Match[str]) -> None:
        gap_start, gap_end = self.prev_end, match.start()
        attached = self.prev_mention is not None and _ATTACH_GAP.fullmatch(self.text, gap_start, gap_end)
        last = self.prev_cites[-1] if self.prev_cites else None
        listed = last is not None and _LIST_GAP.fullmatch(self.text, gap_start, gap_end)
        ranged = last is not None and _RANGE_GAP.fullmatch(self.text, gap_start, gap_end)
        if attached:
            assert self.prev_mention is not None
            law = _Law(self.prev_mention.title, self.prev_mention.law_id)
            start = self._mention_start()
        elif last is not None and (listed or ranged):
            law, start = last.law, match.start()
        else:
            law, start = _NO_LAW, match.start()
        cites = self._read(
            match, law, start, attached=bool(attached), after=last if listed or ranged else None
        )
        if cites is None:
            return  # not a citation after all: leave the context as it was
        if ranged and last is not None and cites:
            cites = self._fill_range(last, cites[0]) + cites
        self.out.extend(cites)
        self.prev_cites = cites
        self.prev_mention = None
        self.prev_end = match.end()

    def _mention_start(self) -> int:
        """Start of the law name, joining 自治法 + 施行令 written as one word."""
        assert self.prev_mention is not None
        start = self.prev_mention.start
        for earlier in reversed(self.mentions):
            if earlier.end == start and earlier.start < start:
                start = earlier.start
                break
        return start

    def _read(
        self, m: re.Match[str], law: _Law, start: int, *, attached: bool, after: _Cite | None
    ) -> list[_Cite] | None:
        end = m.end()
        if m["r_from"] is not None:
            if m["r_dai"] is None and not m["r_from"].isdigit() and not attached:
                return None  # 一から三条…: kanji without 第 only right after a law name
            first, last = str(parse_number(m["r_from"])), str(parse_number(m["r_to"]))
            if int(first) >= int(last):  # 5~5条, or not a range at all (2024-5条)
                return [_Cite(law, last, None, None, start, end)]
            nums = [first, *_expand_articles(first, last), last]
            return [_Cite(law, n, None, None, start, end) for n in nums]
        if m["a_main"] is not None:
            bare_kanji = m["a_dai"] is None and not m["a_main"].isdigit()
            if bare_kanji and not (
                attached
                and _STRICT_GAP.fullmatch(self.text, self.prev_end, m.start())
                and _NO_WORD_AFTER.match(self.text, end)
            ):
                return None  # 三条市, 二条城: a place name, not an article
            article = _article_num(m["a_main"], m["a_br"])
            return [_Cite(law, article, _opt_number(m["a_para"]), _opt_number(m["a_item"]), start, end)]
        if m["b_main"] is not None:
            right_after_law = attached and _STRICT_GAP.fullmatch(self.text, self.prev_end, m.start())
            if after is None and not right_after_law:
                return None  # 10の2 alone is no article; 自治法242の2 and a listed 242の3 are
            article = _article_num(m["b_main"], m["b_br"])
            return [_Cite(law, article, _opt_number(m["b_para"]), _opt_number(m["b_item"]), start, end)]
        if m.group(0).startswith("同条"):
            ref = self.out[-1] if self.out else None
            if ref is None:
                return None
            return [
                _Cite(
                    ref.law, ref.article, _opt_number(m["s_para"]), _opt_number(m["s_item"]), m.start(), end
                )
            ]
        if m.group(0).startswith("同項"):
            ref = self.out[-1] if self.out else None
            if ref is None or ref.paragraph is None:
                return None
            return [_Cite(ref.law, ref.article, ref.paragraph, _opt_number(m["t_item"]), m.start(), end)]
        if after is None:
            return None  # 第2項 / 第67号 on their own belong to no article we know
        if m["c_para"] is not None:
            para = parse_number(m["c_para"])
            return [_Cite(after.law, after.article, para, _opt_number(m["c_item"]), m.start(), end)]
        return [_Cite(after.law, after.article, after.paragraph, parse_number(m["d_item"]), m.start(), end)]

    @staticmethod
    def _fill_range(first: _Cite, last: _Cite) -> list[_Cite]:
        """Citations strictly between two range ends: articles, or paragraphs of one article."""
        start, end = first.start, last.end
        if first.article != last.article:
            return [
                _Cite(last.law, n, None, None, start, end)
                for n in _expand_articles(first.article, last.article)
            ]
        if first.paragraph is not None and last.paragraph is not None and last.item is None:
            paras = range(first.paragraph + 1, last.paragraph)
            return [_Cite(last.law, last.article, p, None, start, end) for p in paras][: RANGE_CAP - 2]
        if first.paragraph == last.paragraph and first.item is not None and last.item is not None:
            items = range(first.item + 1, last.item)
            return [_Cite(last.law, last.article, last.paragraph, i, start, end) for i in items][
                : RANGE_CAP - 2
            ]
        return []


def find_citations(question: str, index: LawTitleIndex) -> list[ResolvedCitation]:
    """Explicit article references in ``question``, in order of appearance.

    Range ends keep their own spans; articles filled in between share the span
    of the whole range. A range yields at most ``RANGE_CAP`` articles.
    """
    if not isinstance(question, str):
        raise TypeError(f"find_citations: question must be str, not {type(question).__name__}")
    text, starts, ends = normalize_with_offsets(question)
    tokens = list(_TOKEN.finditer(text))
    if not tokens:
        return []
    mentions = index.scan(text, stop=tokens[-1].start())
    reader = _Reader(text, mentions)
    m_iter = iter(mentions)
    mention = next(m_iter, None)
    for token in tokens:
        while mention is not None and mention.end <= token.start():
            reader.feed_mention(mention)
            mention = next(m_iter, None)
        if mention is not None and mention.start < token.end():
            continue  # an article number inside a law title (…第二条の災害を定める政令)
        reader.feed_token(token)
    result = []
    for cite in reader.out:
        span = (starts[cite.start], ends[cite.end - 1])
        result.append(
            ResolvedCitation(
                law_title=cite.law.title,
                article=cite.article,
                paragraph=cite.paragraph,
                item=cite.item,
                span=span,
                matched=question[span[0] : span[1]],
                law_id=cite.law.law_id,
            )
        )
    return result


_NO_LAWS = LawTitleIndex({}, {})


def mentions_article(question: str) -> bool:
    """Whether ``question`` refers to an article by its number (第9999条, 同法242条), law named or not."""
    return bool(find_citations(question, _NO_LAWS))
