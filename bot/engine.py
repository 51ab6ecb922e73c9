"""The answer engine: redact → retrieve → abstain or generate → verify → record.

A thin async shell around pure parts (bot.redaction, bot.prompt, bot.verify,
bot.answer_text) and the collaborators it is given: a searcher, an optional
LLM provider, and optional state stores. It never raises for an LLM failure
(the extractive answer is the fallback); other errors propagate so the
adapter can apologise in chat and log the traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection

from bot import wording
from bot.answer_text import (
    FALLBACK_NOTICE,
    READ_BY_LLM_NOTICE,
    abstention_text,
    extractive_answer,
    fallback_notice,
    inquiry_draft,
    missing_article_text,
    relevant_sources,
)
from bot.budget import BUDGET_NOTICE
from bot.llm.base import ChatTurn, Completion, LLMError, LLMProvider, Prompt, StreamDone, TextDelta
from bot.models import Answer, IncomingMessage, Source, Usage
from bot.prompt import answer_prompt, clean_rewrite, grounding_hits, rewrite_prompt, sources_from_hits
from bot.redaction import BLOCKED_MESSAGE, RedactionPolicy, redact
from bot.state.audit import AuditLog, entry_from_answer
from bot.state.threads import ThreadStore
from bot.state.usage import UsageMeter
from bot.verify import StoredLaws, check_quoted_articles, verify, with_note
from knowledge.asides import without_sentences
from knowledge.citations import mentions_article
from knowledge.documents import DocKind
from knowledge.search import ArticleRef, Searcher, SearchResult
from knowledge.stored_laws import StoreLaws
from knowledge.tokenize import normalize, normalize_question

log = logging.getLogger(__name__)
EXTRACTIVE_USAGE = Usage(provider="none", model="extractive")
REWRITE_ANCHOR_DEPTH = 10
T = TypeVar("T")


def _rewrite_helps(original: SearchResult, rewritten: SearchResult) -> bool:
    """Keep the rewritten search only when it helps the question actually asked.

    It must be sufficient, its best hit must already be among the original question's
    top hits (a rewrite re-ranks; it cannot bring in a topic the question never reached,
    which is how an off-topic rewrite would make an unanswerable question look answerable),
    and it must turn an insufficient result sufficient or cover more.
    """
    if not rewritten.sufficient or not rewritten.hits:
        return False
    anchored = rewritten.hits[0].chunk_id in {h.chunk_id for h in original.hits}
    return anchored and (not original.sufficient or rewritten.coverage > original.coverage)


def _unfound_citations(result: SearchResult) -> list[ArticleRef]:
    """The articles the question cites that its hits do not hold (a wrong number, a missing branch)."""
    found = {(h.doc_id, h.article) for h in result.hits if h.matched_by == "citation"}
    return [ref for ref in result.citations if (ref.doc_id, ref.article) not in found]


def _cited_but_missing(result: SearchResult) -> list[str]:
    """How staff read the articles a question cites when none of them is there to answer from."""
    unfound = _unfound_citations(result)
    return [ref.label for ref in unfound] if unfound and len(unfound) == len(result.citations) else []


def _rewrite_wanted(result: SearchResult, below_coverage: float) -> bool:
    """Whether the question's own retrieval is weak enough for an LLM rewrite to be worth its call.

    A rewrite costs a whole LLM round trip before the answer can start, so it runs only where it
    can change the outcome: the evidence is insufficient (the rewrite may find the statute's
    wording), or it covers less than ``below_coverage`` of the question. A result that already
    covers the whole question can never be replaced (``_rewrite_helps`` wants more coverage), and
    an explicit citation is answered from the cited article (and one citing only articles that do
    not exist is not answered at all).
    """
    if result.citations or any(h.matched_by == "citation" for h in result.hits):
        return False
    return not result.sufficient or result.coverage < below_coverage


def _worth_a_reading(result: SearchResult, reads_from: float) -> bool:
    """Whether an insufficient result came close enough for the LLM to read its sources and decide.

    The decision weighs measures of words; an LLM reads what the articles say. A result the decision
    scored at ``reads_from`` or more, with hits to read and not about a law the base does not hold (by
    its name, or by two of its subjects: ``absent_laws``), is given to the LLM, which answers only what
    it can quote from them and otherwise declines (``_generate``). A question naming one subject of such
    a law may still be answered by a held one (ふるさと納税's money kept in a 基金: 地方自治法).
    """
    return (
        not result.sufficient
        and bool(result.hits)
        and not result.citations
        and not result.absent_laws
        and result.confidence >= reads_from
    )


def _abstention(question: str, result: SearchResult, sources: Sequence[Source], usage: Usage) -> Answer:
    """No answer, saying what was searched (or which law not held it is about), with a 照会 draft. The
    reply lists every article looked at; the draft, sent on to a prefecture or ministry, names as the
    provisions concerned only those the search found close to its best."""
    absent, possible = result.absent_laws, result.possible_laws
    asked = without_sentences(question, result.asides)  # quoted back without the chat
    concerned = relevant_sources(sources)
    return Answer(
        text=abstention_text(asked, sources, absent, possible),
        citations=(),
        abstained=True,
        inquiry_draft=inquiry_draft(asked, concerned, absent_laws=absent, possible_laws=possible),
        usage=usage,
    )


def with_internal_note(answer: Answer, sources: Sequence[Source]) -> Answer:
    """An answer citing a 照会回答 or another Q&A says beside it that such a source is no statute."""
    cited = {c.n for c in answer.citations}
    internal = any(s.kind == DocKind.QA and s.n in cited for s in sources)
    if not internal or wording.INTERNAL_ANSWER_NOTE in answer.warnings:
        return answer
    return replace(answer, warnings=(*answer.warnings, wording.INTERNAL_ANSWER_NOTE))


@dataclass(frozen=True)
class EngineSettings:
    top_k: int = 5
    history_turns: int = 6
    history_chars: int = 4000
    rewrite: bool = True  # with an LLM: also search the question restated in statute vocabulary
    # ... but only when the question's own retrieval is insufficient or covers less than this share.
    rewrite_below_coverage: float = 0.75
    # With an LLM: an insufficient result the decision scored at least this is read by the LLM, which
    # answers only from what it can quote (above 1: never). Below it, or without an LLM, it abstains.
    llm_reads_from: float = 0.3
    max_tokens: int = 1500


@dataclass(frozen=True)
class _Retrieved:
    result: SearchResult
    query_terms: list[str]


class AnswerEngine:
    def __init__(
        self,
        *,
        searcher: Searcher,
        provider: LLMProvider | None = None,
        redaction: RedactionPolicy | None = None,
        threads: ThreadStore | None = None,
        audit: AuditLog | None = None,
        usage: UsageMeter | None = None,
        settings: EngineSettings | None = None,
        llm_allowed: Callable[[str], bool] | None = None,
        laws: StoredLaws | None = None,
    ) -> None:
        self.searcher = searcher
        # What verification checks article references against: the laws of the searched store.
        self.laws = laws if laws is not None else StoreLaws(searcher.store)
        self.provider = provider
        self.redaction = redaction or RedactionPolicy()
        self.threads = threads
        self.audit = audit
        self.usage = usage
        self.settings = settings or EngineSettings()
        self.llm_allowed = llm_allowed  # per tenant (a BudgetGuard); False: extractive answers only
        self._state_pool: ThreadPoolExecutor | None = None

    async def answer(self, message: IncomingMessage, *, collections: Sequence[str] | None = None) -> Answer:
        """The final verified Answer, for callers that show nothing before it (no streaming).

        The LLM is asked for one complete response (``provider.complete``) instead of a stream:
        iterating a stream's events costs about as much CPU as the rest of the answer path, and
        nobody would see the deltas. Verification, fallback and retries are the same.
        """
        final: str | Answer | None = None
        async for event in self._run(message, collections, streaming=False):
            final = event  # without streaming, the Answer is the only event
        if not isinstance(final, Answer):
            raise RuntimeError("the answer engine finished without an Answer")
        return final

    def stream(
        self, message: IncomingMessage, *, collections: Sequence[str] | None = None
    ) -> AsyncIterator[str | Answer]:
        """Text deltas (when an LLM streams), then the final verified Answer."""
        return self._run(message, collections, streaming=True)

    async def _run(
        self, message: IncomingMessage, collections: Sequence[str] | None, *, streaming: bool
    ) -> AsyncIterator[str | Answer]:
        """The answer path; text deltas are yielded only when ``streaming``."""
        redacted = redact(message.text, self.redaction)
        question = redacted.text
        if redacted.blocked:
            answer = Answer(
                text=BLOCKED_MESSAGE, citations=(), abstained=True, warnings=("personal data blocked",)
            )
            yield await self._in_state(self._record, message, question, answer, [])
            return
        if self._reads_state(message):
            history, use_llm = await self._in_state(self._prepare, message)
        else:  # nothing to read: no worker thread
            history, use_llm = self._prepare(message)
        usage = EXTRACTIVE_USAGE
        retrieved, rewrite_usage = await self._retrieve(question, history, collections, use_llm=use_llm)
        if rewrite_usage is not None:
            usage = rewrite_usage
        hits = grounding_hits(retrieved.result.hits)
        sources = sources_from_hits(hits, query_terms=retrieved.query_terms)
        missing = _cited_but_missing(retrieved.result)
        if missing:
            answer = Answer(text=missing_article_text(missing), citations=(), abstained=True, usage=usage)
        elif not retrieved.result.sufficient and not (
            use_llm and _worth_a_reading(retrieved.result, self.settings.llm_reads_from)
        ):
            answer = _abstention(question, retrieved.result, sources, usage)
        elif not use_llm:
            warnings = () if self.provider is None else (BUDGET_NOTICE,)
            answer = self._extractive(question, sources, retrieved.query_terms, usage, warnings=warnings)
        else:
            generated: Answer | None = None
            answering = self._generate(question, history, retrieved, sources, usage, streaming=streaming)
            async for event in answering:
                if isinstance(event, Answer):
                    generated = event
                else:
                    yield event
            assert generated is not None
            answer = generated
        answer = with_internal_note(answer, sources)
        yield await self._in_state(self._record, message, question, answer, sources)

    # -- retrieval ----------------------------------------------------------
    async def _retrieve(
        self, question: str, history: list[ChatTurn], collections: Sequence[str] | None, *, use_llm: bool
    ) -> tuple[_Retrieved, Usage | None]:
        k = self.settings.top_k
        previous = next((t.text for t in reversed(history) if t.role == "user"), None)
        result, terms = await asyncio.to_thread(self._search_question, question, previous, collections)
        rewrite_usage = None
        if (
            use_llm
            and self.settings.rewrite
            and _rewrite_wanted(result, self.settings.rewrite_below_coverage)
        ):
            rewritten, rewrite_usage = await self._rewrite(question)
            if rewritten and normalize(rewritten).strip() != normalize(question).strip():
                alt = await asyncio.to_thread(self.searcher.search, rewritten, k=k, collections=collections)
                if _rewrite_helps(result, alt):
                    result = alt
        return _Retrieved(replace(result, hits=result.hits[:k]), terms), rewrite_usage

    def _search_question(
        self, question: str, previous: str | None, collections: Sequence[str] | None
    ) -> tuple[SearchResult, list[str]]:
        """The question's own retrieval and its query terms, in one trip to a worker thread."""
        k = self.settings.top_k
        # Search deeper than the sources shown: a rewrite may only re-rank what the question itself found.
        result = self.searcher.search(question, k=max(k, REWRITE_ANCHOR_DEPTH), collections=collections)
        if previous and not result.sufficient and not result.citations:
            # a follow-up: 「それは会計年度任用職員にも適用される？」, 「同法第100条は？」
            followup = self.searcher.search(f"{previous}\n{question}", k=k, collections=collections)
            own = self._own_citations(followup, previous)
            unfound = [ref for ref in _unfound_citations(followup) if ref in own]
            if unfound:  # the earlier turn names the law, and the article asked for is not there
                result = replace(result, hits=[], citations=unfound)
            elif followup.sufficient and (own or not mentions_article(question)):
                # (「では第9999条は？」 is not answered with the article the earlier turn cited)
                result = followup
        return result, self.searcher.segmenter.query_terms(question).terms

    def _own_citations(self, followup: SearchResult, previous: str) -> list[ArticleRef]:
        """The articles a follow-up's search cites that the earlier turn alone does not: its own."""
        finder = self.searcher.citations
        cited = finder.find(normalize_question(previous)) if finder else []
        earlier = {(r.doc_id, r.article) for r in cited}
        return [ref for ref in followup.citations if (ref.doc_id, ref.article) not in earlier]

    async def _rewrite(self, question: str) -> tuple[str | None, Usage | None]:
        assert self.provider is not None
        system, user = rewrite_prompt(question)
        prompt = Prompt(
            system_fixed=system, system_context="", messages=(ChatTurn("user", user),), max_tokens=200
        )
        try:
            completion = await self.provider.complete(prompt)
        except LLMError as exc:
            log.warning("query rewrite skipped: %s", exc)
            return None, None
        return clean_rewrite(completion.text), completion.usage

    # -- generation -----------------------------------------------------------
    async def _generate(
        self,
        question: str,
        history: list[ChatTurn],
        retrieved: _Retrieved,
        sources: list[Source],
        usage: Usage,
        *,
        streaming: bool,
    ) -> AsyncIterator[str | Answer]:
        """Ask the LLM (streamed, or as one response), verify, fall back to the extractive answer.

        An LLM that says the sources do not answer the question is taken at its word: the answer
        abstains in the same words as when retrieval finds too little (naming the provisions looked
        at, with a 照会 draft), instead of showing the search results as if they answered. When the
        retrieval itself was insufficient (``_worth_a_reading``), only a verified answer is shown, with
        a note to check the cited articles; an LLM failure or an answer with nothing verified abstains,
        since the search results alone were not enough.
        """
        assert self.provider is not None
        query_terms = retrieved.query_terms
        doubtful = not retrieved.result.sufficient
        prompt = answer_prompt(question, sources, history, max_tokens=self.settings.max_tokens)
        completion: Completion | None = None
        try:
            if streaming:
                async for event in self.provider.stream(prompt):
                    if isinstance(event, TextDelta):
                        yield event.text
                    elif isinstance(event, StreamDone):
                        completion = event.completion
            else:
                completion = await self.provider.complete(prompt)
        except LLMError as exc:
            if doubtful:
                log.warning("LLM failed on a question the search could not answer; abstaining: %s", exc)
                yield _abstention(question, retrieved.result, sources, usage)
                return
            log.warning("LLM failed, answering extractively: %s", exc)
            yield self._extractive(question, sources, query_terms, usage, warnings=(FALLBACK_NOTICE,))
            return
        assert completion is not None
        total = completion.usage if usage is EXTRACTIVE_USAGE else usage + completion.usage
        checked = verify(completion.text, sources, question=question, laws=self.laws)
        provided = replace(total, provider=self.provider.name, model=self.provider.model)
        if checked.declined or (doubtful and checked.verified_claims == 0):
            yield _abstention(question, retrieved.result, sources, provided)
            return
        if checked.verified_claims == 0:
            warnings = (
                *checked.warnings,
                "生成された回答の根拠を確認できなかったため、検索結果をお示しします。",
            )
            yield self._extractive(question, sources, query_terms, total, warnings=warnings)
            return
        yield Answer(
            text=with_note(checked.text),
            citations=checked.citations,
            abstained=False,
            warnings=(*checked.warnings, READ_BY_LLM_NOTICE) if doubtful else checked.warnings,
            usage=provided,
        )

    def _extractive(
        self,
        question: str,
        sources: list[Source],
        query_terms: list[str],
        usage: Usage,
        *,
        warnings: tuple[str, ...],
    ) -> Answer:
        text, citations = extractive_answer(question, sources, query_terms=query_terms)
        citations, unknown = check_quoted_articles(citations, self.laws)
        warnings = (*warnings, *(w for w in unknown if w not in warnings))
        if FALLBACK_NOTICE in warnings:
            text = fallback_notice(text)
        return Answer(
            text=with_note(text),
            citations=citations,
            abstained=False,
            warnings=warnings,
            usage=usage,
            extractive=True,
        )

    # -- state ----------------------------------------------------------------
    async def _in_state(self, func: Callable[..., T], *args: Any) -> T:
        """Run a short state-database call on the engine's own threads.

        Kept apart from the default executor, where searches queue under load, so that reading
        the thread and recording a finished answer never wait behind other questions' searches.
        """
        if self._state_pool is None:
            self._state_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="engine-state")
        return await asyncio.get_running_loop().run_in_executor(self._state_pool, partial(func, *args))

    def _prepare(self, message: IncomingMessage) -> tuple[list[ChatTurn], bool]:
        """The thread's earlier turns, and whether the tenant's budget still allows the LLM."""
        use_llm = self.provider is not None
        if use_llm and self.llm_allowed is not None:
            use_llm = self.llm_allowed(message.ref.tenant)
        return self._history(message), use_llm

    def _reads_state(self, message: IncomingMessage) -> bool:
        """Whether preparing ``message`` reads the state database (else it needs no worker thread)."""
        budgeted = self.provider is not None and self.llm_allowed is not None
        return budgeted or self._has_history(message)

    def _has_history(self, message: IncomingMessage) -> bool:
        """A message that starts its thread (a Slack mention outside a thread) has no earlier turns."""
        ref = message.ref
        return self.threads is not None and ref.thread is not None and ref.thread != ref.message

    def _history(self, message: IncomingMessage) -> list[ChatTurn]:
        if self.threads is None or not self._has_history(message):
            return []
        s = self.settings
        turns = self.threads.recent(
            message.ref.thread_key, max_turns=s.history_turns, max_chars=s.history_chars
        )
        return [ChatTurn(t.role, t.text) for t in turns]

    def _record(
        self, message: IncomingMessage, question: str, answer: Answer, sources: list[Source]
    ) -> Answer:
        """Audit, meter and remember the exchange; the question is already redacted.

        One write transaction for all of it when the stores share a database (one lock, one commit).
        """
        entry = None
        if self.audit is not None:
            self.audit.ensure_head()
            entry = entry_from_answer(
                message.ref,
                user_hash=self.audit.hash_user(message.user),
                question=question,
                answer=answer,
                sources=sources,
            )
        with self._state_transaction() as conn:
            if self.threads is not None and message.ref.thread is not None:
                self.threads.append(message.ref.thread_key, "user", question, conn=conn)
                self.threads.append(message.ref.thread_key, "assistant", answer.text, conn=conn)
            if self.usage is not None and answer.usage is not None and answer.usage.provider != "none":
                self.usage.record(message.ref.tenant, answer.usage, conn=conn)
            if self.audit is None or entry is None:
                return answer
            record = self.audit.append(entry, conn=conn)
        self.audit.publish(record)  # anchor the new head outside the database, now that it is committed
        return replace(answer, audit_id=record.id)

    def _state_transaction(self) -> AbstractContextManager[Connection | None]:
        """A write transaction on the state database the stores share, or None (each commits alone)."""
        dbs = {id(s.db): s.db for s in (self.threads, self.usage, self.audit) if s is not None}
        if len(dbs) != 1:
            return nullcontext(None)
        return next(iter(dbs.values())).write()
