"""Staff phrasings written by the configured LLM: the ``PhrasingAuthor`` of knowledge/phrasing_generation.py.

Several articles of one document go in one request (at most ``max_articles`` articles and
``max_chars`` characters of article text, each article cut at ``ARTICLE_CHARS``), a few
requests at a time. The reply must be one JSON object keyed by the numbers the articles were
given, ``{"1": {"lines": ["…", "…"], "words": "…・…"}, "2": {"lines": [], "words": ""}}`` (a bare
list of lines is taken too), optionally inside one ```json fence; anything else (prose, an
unknown number, lines that are not a list of strings, JSON cut off at max_tokens) is a malformed
reply: that batch is reported and skipped, the others go on. Lines and words are normalised like
the phrasing files (NFKC, one space); empty, duplicate or over-long lines are dropped, and words
that are not one line of text or are too long are left out.

Article text is sent as stored, not through bot/redaction.py: redaction is for what a person
types (the engine redacts the question, not its sources; the digest summarises notices as
published), and these are the same published texts the answer engine already sends as sources.

The ingest that calls ``write`` is synchronous (a thread, for the digest), so each ``write`` runs
its own event loop with a provider of its own, made by ``provider_factory`` and closed at the end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.llm.base import ChatTurn, Completion, LLMError, LLMProvider, Prompt
from bot.models import Usage
from knowledge.phrasing_generation import ArticleToPhrase, BatchResult
from knowledge.phrasings import MAX_LINE_CHARS
from knowledge.tokenize import normalize

log = logging.getLogger(__name__)

MAX_ARTICLES = 8  # per request
MAX_CHARS = 6_000  # of article text per request
ARTICLE_CHARS = 1_500  # an article longer than this is cut (its opening says what it is about)
LINES_PER_ARTICLE = 5
CONCURRENCY = 2  # requests in flight
_TOKENS_PER_ARTICLE = 480  # five lines and the everyday words
_FENCE = re.compile(r"^```(?:json)?[ \t]*\n(.*)\n```$", re.DOTALL)

SYSTEM_FIXED = (
    "あなたは自治体職員向けの法令検索を手伝います。条文ごとに、職員が検索窓に打ち込みそうな短い「言い方」を書いてください。"
    "条文の言葉を知らない職員の質問でも、その条が見つかるようにするためのものです。\n"
    "各条について2〜5行:\n"
    "- 制度・手続の正式な名前と、職員がふだん使う呼び方（略称・通称・言い換え）\n"
    "- その条が問題になる場面を職員の言葉で（例:「町内会の名前で土地を登記したい」）\n"
    "- 職員がよく尋ねる形の質問（例:「職員が休日にアルバイトをしてもいい？」「〜は誰が決める？」）\n"
    "それとは別に各条1行の「日常の言葉」: その条が問題になるとき人がふだん使う言葉や"
    "具体的なもの・人・出来事を5〜12個、「・」でつないで（例:「保証金・預けたお金・退去・引っ越し・大家・返してくれない」）。"
    "条文や言い方にすでにある言葉、どの条にも当てはまる言葉（市・手続き・問題など）は入れないこと。\n"
    "規則:\n"
    "- 条文に書かれていることだけに基づくこと。条文にない要件・期間・金額を作らないこと。\n"
    "- 1行は40字程度まで（長くても80字）。「第○条」などの条番号は書かないこと。\n"
    "- 削除された条や中身のない条には空のリストと空の文字列を返すこと。\n"
    "- 出力は JSON オブジェクトだけ。キーは条文に付けた番号の数字、値は言い方のリストと日常の言葉: "
    '{"1": {"lines": ["…", "…"], "words": "…・…"}, "2": {"lines": [], "words": ""}}。'
    "前置き・説明・コードブロックは書かないこと。"
)


class MalformedReply(ValueError):
    """The reply is not the JSON object asked for; the message says what is wrong."""


def batches(
    articles: Sequence[ArticleToPhrase], *, max_articles: int = MAX_ARTICLES, max_chars: int = MAX_CHARS
) -> list[list[ArticleToPhrase]]:
    """Consecutive articles of one document, at most ``max_articles`` and ``max_chars`` of text each."""
    out: list[list[ArticleToPhrase]] = []
    size = 0
    for a in articles:
        chars = min(len(a.text), ARTICLE_CHARS)
        last = out[-1] if out else []
        if last and last[0].doc_id == a.doc_id and len(last) < max_articles and size + chars <= max_chars:
            last.append(a)
            size += chars
        else:
            out.append([a])
            size = chars
    return out


def build_prompt(batch: Sequence[ArticleToPhrase]) -> Prompt:
    parts = [f"法令・文書: {batch[0].title}"]
    for n, a in enumerate(batch, start=1):
        text = a.text if len(a.text) <= ARTICLE_CHARS else a.text[:ARTICLE_CHARS] + "…（以下略）"
        where = f"（{a.path}）\n" if a.path else ""
        parts.append(f"[{n}] {a.label}{a.caption}\n{where}{text}")
    parts.append(f"上の{len(batch)}条それぞれについて、職員の言い方を JSON で返してください。")
    return Prompt(
        system_fixed=SYSTEM_FIXED,
        system_context="",
        messages=(ChatTurn("user", "\n\n".join(parts)),),
        max_tokens=200 + _TOKENS_PER_ARTICLE * len(batch),
    )


@dataclass(frozen=True)
class Reply:
    lines: dict[int, tuple[str, ...]]  # per article number (1..count)
    words: dict[int, str]  # … the everyday words, where the reply has usable ones
    dropped: int  # lines left out: too long, empty, duplicates, beyond the per-article limit


def parse_reply(text: str, count: int) -> Reply:
    """What the reply says per article number (1..count); MalformedReply when it is not the object
    asked for."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedReply(f"not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(data, dict):
        raise MalformedReply(f"a JSON {type(data).__name__}, not an object keyed by article number")
    out: dict[int, tuple[str, ...]] = {}
    words: dict[int, str] = {}
    dropped = 0
    for key, value in data.items():
        if not (key.isascii() and key.isdigit() and 1 <= int(key) <= count):
            raise MalformedReply(f"unknown article number {key[:20]!r} (asked for 1–{count})")
        lines, said = (value.get("lines", []), value.get("words")) if isinstance(value, dict) else (value, "")
        if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
            raise MalformedReply(f"article {key}: lines are not a list of strings")
        clean: list[str] = []
        for line in lines:
            line = " ".join(normalize(line).split())
            if line and len(line) <= MAX_LINE_CHARS and line not in clean:
                clean.append(line)
        dropped += len(lines) - min(len(clean), LINES_PER_ARTICLE)
        out[int(key)] = tuple(clean[:LINES_PER_ARTICLE])
        said = " ".join(normalize(said).split()) if isinstance(said, str) else ""
        if said and len(said) <= MAX_LINE_CHARS:
            words[int(key)] = said
    return Reply(out, words, dropped)


class LLMPhrasingAuthor:
    def __init__(
        self,
        *,
        provider_factory: Callable[[], LLMProvider | None],
        label: str,
        on_usage: Callable[[Usage], None] | None = None,
        concurrency: int = CONCURRENCY,
        max_articles: int = MAX_ARTICLES,
        max_chars: int = MAX_CHARS,
    ) -> None:
        self._factory = provider_factory
        self._label = label
        self._on_usage = on_usage
        self._concurrency = max(1, concurrency)
        self._max_articles = max_articles
        self._max_chars = max_chars

    @property
    def label(self) -> str:
        return self._label

    def write(self, articles: Sequence[ArticleToPhrase], on_batch: Callable[[BatchResult], None]) -> None:
        if articles:
            asyncio.run(self._write(articles, on_batch))

    async def _write(
        self, articles: Sequence[ArticleToPhrase], on_batch: Callable[[BatchResult], None]
    ) -> None:
        provider = self._factory()
        if provider is None:  # credentials missing: provider_from_config logged why
            on_batch(BatchResult(tuple(articles), error="the LLM is not available (see the log)", requests=0))
            return
        gate = asyncio.Semaphore(self._concurrency)

        async def one(batch: list[ArticleToPhrase]) -> None:
            async with gate:
                result = await self._ask(provider, batch)
            on_batch(result)

        todo = batches(articles, max_articles=self._max_articles, max_chars=self._max_chars)
        try:
            await asyncio.gather(*(one(b) for b in todo))
        finally:
            await provider.aclose()

    async def _ask(self, provider: LLMProvider, batch: list[ArticleToPhrase]) -> BatchResult:
        articles = tuple(batch)
        try:
            completion = await provider.complete(build_prompt(batch))
        except LLMError as exc:
            return BatchResult(articles, error=str(exc))
        except Exception as exc:  # a bug here must not stop the ingest; the log has the traceback
            log.exception("phrasing request failed")
            return BatchResult(articles, error=f"internal error ({type(exc).__name__})")
        self._record(completion.usage)
        usage = completion.usage
        try:
            reply = parse_reply(completion.text, len(batch))
        except MalformedReply as exc:
            cut = " (the reply was cut off at max_tokens)" if _truncated(completion) else ""
            return BatchResult(
                articles,
                error=f"malformed reply: {exc}{cut}",
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
            )
        numbered = list(enumerate(batch, start=1))
        return BatchResult(
            articles,
            lines={(a.doc_id, a.article): reply.lines.get(n, ()) for n, a in numbered},
            words={(a.doc_id, a.article): reply.words[n] for n, a in numbered if n in reply.words},
            dropped=reply.dropped,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
        )

    def _record(self, usage: Usage) -> None:
        if self._on_usage is None:
            return
        try:
            self._on_usage(usage)
        except Exception:  # metering must not cost the lines already paid for
            log.exception("recording phrasing usage failed")


def _truncated(completion: Completion) -> bool:
    return completion.stop_reason in ("max_tokens", "length")
