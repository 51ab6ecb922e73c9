"""A captured answer as knowledge, on the whole corpus: the question nobody could answer is answered from it,
sufficient and cited first, also when asked in other words; withdrawn, it is gone again."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import wording
from bot.engine import AnswerEngine
from bot.inquiry.knowledge import AnswerBook, document
from bot.inquiry.similar import similar_answers
from bot.inquiry.store import ANSWERED, Inquiry
from bot.models import Answer, ConversationRef, IncomingMessage
from kairan.wiring import open_searcher
from knowledge.parsers.qa import parse
from knowledge.search import Searcher
from knowledge.store import KnowledgeStore

QUESTION = "職員の名札に旧姓を使ってよいですか"
PARAPHRASES = ("職員が旧姓を名札に使うことは認められますか", "名札に旧姓を使いたいのですが")
ANSWER = "職員の名札には、本人の申出により旧姓を使用して差し支えありません。人事課に届け出てください。"
LINK = "https://city.slack.com/archives/C0HOUMU/p1700000002000100?thread_ts=1700000001.000100"
SCOPE = ["laws", "city-qa"]


def answered(inquiry_id: int = 12, *, answer: str = ANSWER, revision: int = 1) -> Inquiry:
    moment = datetime(2026, 12, 4, 1, 30, tzinfo=UTC)
    return Inquiry(
        id=inquiry_id, offer="audit-1", tenant="city", asker_platform="slack", asker_channel="C0ASK",
        asker_thread="1.0", asker_message="1.0", asker_user="U0ASKER", asker_name="U0ASKER",
        question=QUESTION,
        reply="根拠となる資料が見つかりませんでした。", text="（照会文）", sources=(), abstained=True,
        dest_platform="slack", dest_channel="C0HOUMU", dest_message="1700000001.000100", dest_link=None,
        state=ANSWERED, created=moment, sent_at=moment, answered_at=moment, updated=moment, revision=revision,
        answer=answer, answer_message="1700000002.000100", answer_link=LINK, responder="U0HOUMU",
        responder_name="法務 一郎", answer_time=moment, event_seq=2, told_seq=1, receipt_rev=0,
        knowledge_want=revision, knowledge_rev=0, work=True, next_at=moment, attempts=1,
    )


def test_the_document_is_a_qa_pair_titled_dated_and_linked() -> None:
    parsed = parse(document(answered(), answerer="法務担当", tenant_name="テスト市"), "inquiry-12.json")
    assert parsed.kind == "qa" and parsed.doc_id == "inquiry-12"
    assert parsed.title == "照会回答 2026-12-04 法務担当" and parsed.url == LINK
    [pair] = parsed.sections
    assert (pair.key, pair.label, pair.caption) == ("照会12", "照会12", QUESTION)
    assert pair.text.startswith(f"問　{QUESTION}\n答　{ANSWER}\n")
    assert "根拠　照会#12（テスト市）への法務担当の回答。" in pair.text
    assert "法令・通知ではありません" in pair.text


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory, corpus_data_dir: Path) -> Path:
    """A copy of the whole corpus (the session's knowledge base stays as it is)."""
    target = tmp_path_factory.mktemp("inquiry-kb") / "kb"
    shutil.copytree(corpus_data_dir, target)
    return target


async def ask(engine: AnswerEngine, text: str, user: str = "U0OTHER") -> tuple[float, Answer]:
    ref = ConversationRef("slack", "city", "C0ASK", None, "2.0")
    started = time.perf_counter()
    answer = await engine.answer(IncomingMessage(ref=ref, user=user, text=text), collections=SCOPE)
    return time.perf_counter() - started, answer


async def test_a_captured_answer_answers_the_same_question_and_its_paraphrases(kb: Path) -> None:
    searcher: Searcher = open_searcher(kb)
    engine = AnswerEngine(searcher=searcher)
    before = searcher.search(QUESTION, k=5, collections=SCOPE)
    assert not before.sufficient  # nothing in the laws answers it

    book = AnswerBook(store=KnowledgeStore(kb), refreshed=searcher.store.refresh)
    assert book.put(answered(), collection="city-qa", answerer="法務担当", tenant_name="テスト市") == (
        "city-qa/inquiry-12"
    )
    for text in (QUESTION, *PARAPHRASES):
        result = searcher.search(text, k=5, collections=SCOPE)
        assert result.sufficient, (text, result.reason)
        assert result.hits[0].doc_id == "city-qa/inquiry-12", (text, [h.doc_id for h in result.hits])
        assert result.hits[0].kind == "qa"

    seconds, answer = await ask(engine, QUESTION)
    assert seconds < 1.0 and not answer.abstained
    [first, *_] = answer.citations
    assert (first.title, first.url, first.verified) == ("照会回答 2026-12-04 法務担当 照会12", LINK, True)
    assert "旧姓を使用して差し支えありません" in answer.text
    assert wording.INTERNAL_ANSWER_NOTE in answer.warnings

    # A related question it does not answer: the asker is shown it before sending a 照会 (part 2).
    related = "旧姓で職員証を発行できますか"
    assert not searcher.search(related, k=5, collections=SCOPE).sufficient
    [similar] = similar_answers(searcher, related, ["city-qa"])
    assert (similar.label, similar.url) == ("照会回答 2026-12-04 法務担当 照会12", LINK)
    assert similar.question == QUESTION
    assert similar.answer == ANSWER
    assert similar_answers(searcher, "公用車の使用基準は", ["city-qa"]) == []

    # A correction replaces it; a withdrawal removes it.
    book.put(answered(answer="名札の旧姓使用は、人事課への届出により認めます。", revision=2),
             collection="city-qa", answerer="法務担当", tenant_name="テスト市")
    result = searcher.search(QUESTION, k=5, collections=SCOPE)
    assert result.hits[0].doc_id == "city-qa/inquiry-12" and "人事課への届出により" in result.hits[0].text
    assert sum(h.doc_id == "city-qa/inquiry-12" for h in result.hits) == 1
    book.remove(answered(), collection="city-qa")
    after = searcher.search(QUESTION, k=5, collections=SCOPE)
    assert not after.sufficient and all(h.doc_id != "city-qa/inquiry-12" for h in after.hits)
    assert searcher.search(QUESTION, k=5, collections=["laws"]).hits[0].kind != "qa"
