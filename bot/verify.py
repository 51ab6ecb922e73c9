"""Check a generated answer against its numbered sources.

``verify`` is pure: it removes citation markers that point to no source, checks
every 「quote」 against the sources cited in its sentence, flags article
references (第N条…) that are not among the sources, and says which citations
hold. Given the laws the knowledge base holds (``StoredLaws``), an article or
paragraph named for one of them must exist there, even inside a faithful quote:
a notice that cites 「地方公務員法第九百九十九条」 does not make it a statute.
It never rewrites claims; the engine decides what to do with the result (e.g.
fall back to the extractive answer when ``verified_claims`` is 0, or abstain when
the answer is ``declined``: it opens by saying the sources do not support one).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from bot.models import Citation, Source
from bot.prompt import ABSTENTION_PHRASE
from knowledge.citations import LawTitleIndex, ResolvedCitation, find_citations
from knowledge.identity import is_law_id
from knowledge.numerals import int_to_kanji, num_to_article_title

AUTHORITATIVE_NOTE = "※ 回答は参考情報です。判断の際は必ず引用元の条文（リンク先）をご確認ください。"

MIN_QUOTE_CHARS = 4  # shorter 「」 spans are terms being named (「副業」), not quotations
_WARN_QUOTE_CHARS = 40

_DIGITS = r"[0-9０-９]+"
_SEP = r"[ \t\u3000]*[,，、][ \t\u3000]*"
MARKER = re.compile(
    rf"(?P<pre>[ \t\u3000]*)[\[［][ \t\u3000]*(?P<nums>{_DIGITS}(?:{_SEP}{_DIGITS})*)[ \t\u3000]*[\]］]"
)
_TRAILING_MARKERS = re.compile(
    rf"(?:[ \t\u3000]*[\[［][ \t\u3000]*{_DIGITS}(?:{_SEP}{_DIGITS})*[ \t\u3000]*[\]］])+"
)
_ENDERS = "。！？!?"
_ELLIPSIS = re.compile(r"\.{2,}|\(中略\)|\(略\)|\(以下略\)")
_SPACE = re.compile(r"\s+")
_PARAGRAPH_LINE = re.compile(r"^\s*([0-9]+)\s", re.MULTILINE)
_SUPPL_KEY = re.compile(r"^suppl\d+_(\d+(?:_\d+)*)$")
_MAIN_ARTICLE = re.compile(r"^\d+(?:_\d+)*$")


class StoredLaws(Protocol):
    """The laws the knowledge base holds: their names, and the text of the articles it has."""

    @property
    def titles(self) -> LawTitleIndex: ...

    def articles(self, refs: list[tuple[str, str]]) -> Mapping[tuple[str, str], str]:
        """Text of each (law id, article Num) that exists; the others are left out."""
        ...


@dataclass(frozen=True)
class Verification:
    text: str  # the answer with markers to missing sources removed ([n] in half-width form)
    citations: tuple[Citation, ...]  # one per cited source, in order of first citation
    warnings: tuple[str, ...]
    verified_claims: int  # sentences carrying at least one verified citation
    declined: bool = False  # the answer opens with ABSTENTION_PHRASE: the sources do not answer the question


# --------------------------------------------------------------------------- text helpers


def normalize_for_match(text: str) -> str:
    """The form quotes and sources are compared in: entities decoded, NFKC, 『』 as 「」, no whitespace."""
    text = unicodedata.normalize("NFKC", html.unescape(text))
    text = text.replace("『", "「").replace("』", "」")
    return _SPACE.sub("", text)


def split_sentences(text: str) -> list[str]:
    """Split an answer into sentences; joining the result gives ``text`` back.

    A sentence ends at a line break or at 。！？ outside 「」/『』; citation
    markers right after the end mark ("…できる。[1]") and a line break stay
    with that sentence.
    """
    out: list[str] = []
    start = 0
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        end: int | None = None
        if ch == "\n":
            depth = 0
            end = i + 1
        elif ch in "「『":
            depth += 1
        elif ch in "」』":
            depth = max(0, depth - 1)
        elif ch in _ENDERS and depth == 0:
            end = i + 1
            while end < n and text[end] in _ENDERS:
                end += 1
            markers = _TRAILING_MARKERS.match(text, end)
            if markers:
                end = markers.end()
            if end < n and text[end] == "\n":
                end += 1
        if end is not None:
            out.append(text[start:end])
            start = i = end
            continue
        i += 1
    if start < n:
        out.append(text[start:])
    return out


def find_quotes(text: str) -> list[tuple[int, int]]:
    """Spans (start, end) of the contents of outermost 「…」 in ``text``; inner 「」 stay inside."""
    spans: list[tuple[int, int]] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch == "「":
            if depth == 0:
                start = i + 1
            depth += 1
        elif ch == "」" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append((start, i))
    return spans


def quote_in(quote: str, source_text: str) -> bool:
    """Whether ``quote`` occurs verbatim in ``source_text`` after normalisation.

    A trailing 。 or 、 in the quote is tolerated, and so are omissions marked
    with … / （中略）: the pieces must then occur in order.
    """
    haystack = normalize_for_match(source_text)
    needle = normalize_for_match(quote).rstrip("。、")
    pieces = [p for p in _ELLIPSIS.split(needle) if p]
    if not pieces:
        return False
    pos = 0
    for piece in pieces:
        found = haystack.find(piece, pos)
        if found == -1:
            return False
        pos = found + len(piece)
    return True


def _short(quote: str) -> str:
    quote = _SPACE.sub("", quote)
    return quote if len(quote) <= _WARN_QUOTE_CHARS else quote[:_WARN_QUOTE_CHARS] + "…"


def _numbers(raw: str) -> list[int]:
    return [int(unicodedata.normalize("NFKC", d)) for d in re.findall(_DIGITS, raw)]


# --------------------------------------------------------------------------- article references


def _articles_of(source: Source) -> set[str]:
    """Article numbers a source stands for: its key, and the Num of a 附則 article."""
    found = {source.article}
    suppl = _SUPPL_KEY.match(source.article)
    if suppl:
        found.add(suppl.group(1))
    return found


def _paragraphs_of(source: Source) -> int:
    return _paragraph_count(source.text)


def _paragraph_count(text: str) -> int:
    """How many paragraphs an article text shows (paragraph 2 onwards start with their number)."""
    numbers = [int(m) for m in _PARAGRAPH_LINE.findall(unicodedata.normalize("NFKC", text))]
    return max([1, *numbers])


def _reference_label(ref: ResolvedCitation, *, paragraph: bool) -> str:
    label = (ref.law_title or "") + num_to_article_title(ref.article)
    if paragraph and ref.paragraph is not None:
        label += f"第{int_to_kanji(ref.paragraph)}項"
    return label


def _default_index(sources: Sequence[Source]) -> LawTitleIndex:
    pairs = {(s.title, s.doc_id) for s in sources if s.title.strip() and s.doc_id}
    return LawTitleIndex.from_titles(sorted(pairs))


class _ReferenceChecker:
    """Decides whether an article reference in the answer is covered by the sources."""

    def __init__(self, sources: Sequence[Source], index: LawTitleIndex) -> None:
        self.sources = sources
        self.index = index
        self._mentioned: dict[int, set[str]] = {}

    def mentioned_in(self, source: Source) -> set[str]:
        """Articles the source text itself refers to (citing 225 may name 第二百三十八条の四)."""
        if source.n not in self._mentioned:
            self._mentioned[source.n] = {c.article for c in find_citations(source.text, self.index)}
        return self._mentioned[source.n]

    def problem(self, ref: ResolvedCitation, cited: Sequence[Source]) -> str | None:
        """A warning for ``ref`` when it is not among the sources, else None."""
        matching = [
            s
            for s in self.sources
            if ref.article in _articles_of(s) and (ref.law_title is None or s.title == ref.law_title)
        ]
        if matching:
            if ref.paragraph is not None and all(_paragraphs_of(s) < ref.paragraph for s in matching):
                return f"{_reference_label(ref, paragraph=True)}は検索された資料に含まれていません"
            return None
        if any(ref.article in self.mentioned_in(s) for s in cited):
            return None  # the cited source itself refers to it: a faithful paraphrase
        return f"{_reference_label(ref, paragraph=False)}は検索された資料に含まれていません"


@dataclass(frozen=True)
class _Named:
    """An article (and paragraph) of a held law that the answer asserts, and where."""

    law_id: str
    law_title: str
    article: str
    paragraph: int | None
    at: int  # offset in the answer

    @property
    def label(self) -> str:
        label = self.law_title + num_to_article_title(self.article)
        return label + (f"第{int_to_kanji(self.paragraph)}項" if self.paragraph is not None else "")


def _named_articles(
    answer_text: str, sentences: Sequence[_Sentence], by_n: Mapping[int, Source], laws: StoredLaws
) -> list[_Named]:
    """Articles of held laws the answer names: with the law's name, or bare (第九百九十九条) where a
    source cited in the same sentence names them for a held law."""
    named: list[_Named] = []
    mentions: dict[int, list[ResolvedCitation]] = {}
    for ref in find_citations(answer_text, laws.titles):
        if not _MAIN_ARTICLE.match(ref.article):
            continue
        start = ref.span[0]
        if ref.law_id is not None and ref.law_title is not None:
            if is_law_id(ref.law_id):  # a statute; a notice's own numbering is not checked here
                    named.append(_Named(ref.law_id, ref.law_title, ref.article, ref.paragraph, start))
            continue
        sentence = next(s for s in sentences if s.start <= start < s.end)
        for n in sentence.cited:
            if n not in mentions:
                mentions[n] = find_citations(by_n[n].text, laws.titles)
            for m in mentions[n]:
                if m.article == ref.article and m.law_id and m.law_title and is_law_id(m.law_id):
                    named.append(_Named(m.law_id, m.law_title, ref.article, ref.paragraph, start))
    return named


def _missing(named: Sequence[_Named], laws: StoredLaws) -> list[_Named]:
    """The named articles or paragraphs that the held law does not have."""
    if not named:
        return []
    texts = laws.articles(list(dict.fromkeys((n.law_id, n.article) for n in named)))
    missing = []
    for n in named:
        text = texts.get((n.law_id, n.article))
        if text is None:
            missing.append(_Named(n.law_id, n.law_title, n.article, None, n.at))
        elif n.paragraph is not None and _paragraph_count(text) < n.paragraph:
            missing.append(n)
    return missing


# --------------------------------------------------------------------------- verify


@dataclass
class _Sentence:
    start: int
    end: int
    cited: list[int]


def verify(
    answer_text: str,
    sources: Sequence[Source],
    *,
    index: LawTitleIndex | None = None,
    question: str | None = None,
    laws: StoredLaws | None = None,
) -> Verification:
    """Check ``answer_text`` against ``sources`` (see the module docstring).

    ``index`` resolves law names in the answer; by default it is built from the
    sources' titles, so a law that is not among the sources names no law and its
    articles are checked against all sources. 「」 spans in a sentence without
    citations that restate ``question`` (or the abstention phrase) are not quotes
    of a source and are not checked. With ``laws``, every article named for a law
    the knowledge base holds must exist there; the sentence naming one that does
    not loses its citations.
    """
    by_n = {s.n: s for s in sources}
    not_sources = [ABSTENTION_PHRASE] + ([question] if question else [])
    warnings: list[str] = []

    def warn(message: str) -> None:
        if message not in warnings:
            warnings.append(message)

    # 1. Sentences and their citation markers; markers to missing sources are dropped.
    sentences: list[_Sentence] = []
    pieces: list[str] = []
    offset = 0
    order: list[int] = []  # cited source numbers in order of first citation
    for raw in split_sentences(answer_text):
        cited: list[int] = []

        def replace(match: re.Match[str], cited: list[int] = cited) -> str:
            kept = []
            for n in _numbers(match["nums"]):
                if n in by_n:
                    kept.append(n)
                    if n not in cited:
                        cited.append(n)
                else:
                    warn(f"出典[{n}]は存在しないため削除しました")
            if not kept:
                return ""
            return match["pre"] + "".join(f"[{n}]" for n in kept)

        pieces.append(MARKER.sub(replace, raw))
        sentences.append(_Sentence(offset, offset + len(raw), cited))
        offset += len(raw)
        order.extend(n for n in cited if n not in order)

    # 2. Quotes: each must occur in a source cited in its sentence (or any source if none is cited).
    failed: set[int] = set()
    first_quote: dict[int, str] = {}
    verified_spans: list[tuple[int, int]] = []
    for sentence in sentences:
        raw = answer_text[sentence.start : sentence.end]
        candidates = [by_n[n] for n in sentence.cited] or list(sources)
        for q_start, q_end in find_quotes(raw):
            quote = raw[q_start:q_end]
            if len(normalize_for_match(quote).rstrip("。、")) < MIN_QUOTE_CHARS:
                continue
            if not sentence.cited and any(quote_in(quote, other) for other in not_sources):
                continue
            holders = [s for s in candidates if quote_in(quote, s.text)]
            if holders:
                verified_spans.append((sentence.start + q_start, sentence.start + q_end))
                for s in holders:
                    first_quote.setdefault(s.n, quote)
                continue
            if sentence.cited:
                failed.update(sentence.cited)
                where = "".join(f"[{n}]" for n in sentence.cited)
                labels = "、".join(by_n[n].citation_label for n in sentence.cited)
                warn(f"引用「{_short(quote)}」は出典{where}（{labels}）に見つかりませんでした")
            else:
                warn(f"引用「{_short(quote)}」はいずれの資料にも見つかりませんでした")

    # 3. Article references outside verified quotes must be among the sources.
    checker = _ReferenceChecker(sources, index or _default_index(sources))
    for ref in find_citations(answer_text, checker.index):
        start = ref.span[0]
        if any(a <= start < b for a, b in verified_spans):
            continue
        sentence = next(s for s in sentences if s.start <= start < s.end)
        problem = checker.problem(ref, [by_n[n] for n in sentence.cited])
        if problem:
            warn(problem)

    # 3b. Articles of held laws must exist, quoted or not.
    if laws is not None:
        for named in _missing(_named_articles(answer_text, sentences, by_n, laws), laws):
            sentence = next(s for s in sentences if s.start <= named.at < s.end)
            failed.update(sentence.cited)
            warn(f"{named.label}は存在しません")

    # 4. Citations and the count of supported sentences.
    citations = tuple(
        Citation(
            n=n,
            doc_id=by_n[n].doc_id,
            article=by_n[n].article,
            title=by_n[n].citation_label,
            url=by_n[n].url,
            quote=first_quote.get(n, "") if n not in failed else "",
            verified=n not in failed,
        )
        for n in order
    )
    verified_claims = sum(1 for s in sentences if any(n not in failed for n in s.cited))
    return Verification(
        text="".join(pieces),
        citations=citations,
        warnings=tuple(warnings),
        verified_claims=verified_claims,
        declined=declines(answer_text),
    )


def declines(answer_text: str) -> bool:
    """Whether an answer says in its first sentence that the sources do not support one (prompt rule 6)."""
    first = next((s for s in split_sentences(answer_text) if s.strip()), "")
    return normalize_for_match(ABSTENTION_PHRASE) in normalize_for_match(first)


def check_quoted_articles(
    citations: Sequence[Citation], laws: StoredLaws | None
) -> tuple[tuple[Citation, ...], tuple[str, ...]]:
    """Citations whose quote names an article or paragraph of a held law that the law does not have
    lose their verified mark (an extractive answer quotes its sources verbatim, a notice's errors too)."""
    if laws is None:
        return tuple(citations), ()
    out: list[Citation] = []
    warnings: list[str] = []
    for citation in citations:
        named = [
            _Named(r.law_id, r.law_title, r.article, r.paragraph, r.span[0])
            for r in find_citations(citation.quote, laws.titles)
            if r.law_id and r.law_title and is_law_id(r.law_id) and _MAIN_ARTICLE.match(r.article)
        ]
        missing = _missing(named, laws)
        for m in missing:
            if (warning := f"{m.label}は存在しません") not in warnings:
                warnings.append(warning)
        out.append(replace(citation, verified=False) if missing else citation)
    return tuple(out), tuple(warnings)


def with_note(text: str) -> str:
    """``text`` followed by the closing line saying the cited texts are authoritative (once)."""
    body = text.rstrip()
    if body.endswith(AUTHORITATIVE_NOTE):
        return body
    return f"{body}\n\n{AUTHORITATIVE_NOTE}" if body else AUTHORITATIVE_NOTE
