"""The LLM as the writer of staff phrasings: batching, the prompt, strict parsing, and the real
clients (anthropic SDK, OpenAI-compatible over aiohttp) against the fake servers on 127.0.0.1.

The author runs its own event loop (the ingest that calls it is synchronous), so the end-to-end
tests call it from a worker thread while the fake server serves on the test's loop.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from anthropic import AsyncAnthropic

from bot.llm.anthropic_provider import AnthropicProvider
from bot.llm.openai_compatible import OpenAICompatibleProvider
from bot.models import Usage
from bot.phrasing_author import (
    ARTICLE_CHARS,
    SYSTEM_FIXED,
    LLMPhrasingAuthor,
    MalformedReply,
    Reply,
    batches,
    build_prompt,
    parse_reply,
)
from knowledge.phrasing_generation import ArticleToPhrase, generate_phrasings
from knowledge.phrasings import MAX_LINE_CHARS, PhrasingSources, load_file
from knowledge.store import KnowledgeStore
from knowledge.tokenize import Segmenter
from tests.fakes.llm_servers import FakeAnthropicServer, FakeOpenAIServer
from tests.fakes.phrasing_llm import PhrasingResponder, request_text
from tests.knowledge.docs import JICHI_ID, jichi, koumuin, write_doc

MODEL = "claude-sonnet-4-6"


def article(doc_id: str, key: str, text: str = "本文。", title: str = "地方自治法") -> ArticleToPhrase:
    return ArticleToPhrase(doc_id, title, key, f"第{key}条", "（見出し）", "第一章", text, "sha", "tsha")


# -- batching and the prompt ---------------------------------------------------------------
def test_batches_stay_within_one_document_and_the_size_bounds() -> None:
    articles = [article("A", str(n)) for n in range(1, 6)]
    articles += [article("B", "1"), article("B", "2", "長" * 998), article("B", "3")]
    got = [[(a.doc_id, a.article) for a in b] for b in batches(articles, max_articles=3, max_chars=1000)]
    assert got == [
        [("A", "1"), ("A", "2"), ("A", "3")],
        [("A", "4"), ("A", "5")],
        [("B", "1")],
        [("B", "2")],  # 3 + 998 characters would pass 1,000
        [("B", "3")],
    ]
    # An article over ARTICLE_CHARS counts as ARTICLE_CHARS (it is cut in the prompt).
    huge = [article("A", "1", "長" * 5000), article("A", "2")]
    assert len(batches(huge, max_articles=8, max_chars=ARTICLE_CHARS + 10)) == 1


def test_prompt_numbers_the_articles_and_cuts_long_ones() -> None:
    prompt = build_prompt([article("A", "1", "短い本文。"), article("A", "2", "長" * (ARTICLE_CHARS + 50))])
    assert prompt.system_fixed == SYSTEM_FIXED and prompt.system_context == ""
    text = prompt.messages[-1].text
    opening = "法令・文書: 地方自治法\n\n[1] 第1条（見出し）\n（第一章）\n短い本文。\n\n[2] 第2条"
    assert text.startswith(opening)
    assert "長" * ARTICLE_CHARS + "…（以下略）" in text and "長" * (ARTICLE_CHARS + 1) not in text
    assert prompt.max_tokens == 1160


# -- strict parsing -----------------------------------------------------------------------
def test_parse_reply_accepts_the_object_asked_for() -> None:
    first = {"lines": ["職員の兼業", "  休日に　アルバイト？ "], "words": "副収入・内職"}
    reply = json.dumps({"1": first, "2": {"lines": []}}, ensure_ascii=False)
    expected = Reply({1: ("職員の兼業", "休日に アルバイト?"), 2: ()}, {1: "副収入・内職"}, 0)
    assert parse_reply(reply, 2) == expected
    assert parse_reply(f"```json\n{reply}\n```", 2).lines[1] == ("職員の兼業", "休日に アルバイト?")
    assert parse_reply("{}", 3) == Reply({}, {}, 0)  # articles left out get nothing; the batch counts
    # a bare list of lines (the older form) is lines without words
    assert parse_reply('{"1": ["職員の兼業"]}', 1) == Reply({1: ("職員の兼業",)}, {}, 0)


def test_parse_reply_drops_long_empty_duplicate_and_surplus_lines_and_unusable_words() -> None:
    lines = ["長" * (MAX_LINE_CHARS + 1), "", "a", "a", "b", "c", "d", "e", "f"]
    assert parse_reply(json.dumps({"1": lines}), 1) == Reply({1: ("a", "b", "c", "d", "e")}, {}, 4)
    too_long = {"lines": ["a"], "words": "長" * (MAX_LINE_CHARS + 1)}
    unusable = parse_reply(json.dumps({"1": too_long, "2": {"lines": ["b"], "words": 3}}), 2)
    assert unusable.words == {} and unusable.lines == {1: ("a",), 2: ("b",)}  # words left out, lines kept


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("以下が言い方です。", "not JSON"),
        ('{"1": ["a"]} 以上です', "not JSON"),
        ('["a", "b"]', "a JSON list, not an object"),
        ('{"3": ["a"]}', "unknown article number '3'"),
        ('{"第1条": ["a"]}', "unknown article number"),
        ('{"1": "a"}', "article 1: lines are not a list of strings"),
        ('{"1": ["a", 2]}', "article 1: lines are not a list of strings"),
        ('{"1": {"lines": "a"}}', "article 1: lines are not a list of strings"),
        ('{"1": ["a", "b"', "not JSON"),  # cut off at max_tokens
    ],
)
def test_parse_reply_rejects_anything_else(reply: str, message: str) -> None:
    with pytest.raises(MalformedReply, match=message):
        parse_reply(reply, 2)


# -- end to end against the fake servers --------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> KnowledgeStore:
    segmenter = Segmenter()
    store = KnowledgeStore(tmp_path / "kb")
    write_doc(store, jichi(extra=True), segmenter)
    write_doc(store, koumuin(), segmenter)
    return store


def anthropic_author(server: FakeAnthropicServer, usage: list[Usage], **kw: int) -> LLMPhrasingAuthor:
    def provider() -> AnthropicProvider:
        client = AsyncAnthropic(api_key="test-key", base_url=server.base_url)
        return AnthropicProvider(client=client, provider_name="anthropic", model=MODEL, backoff_s=0.001)

    label = f"anthropic {MODEL}"
    return LLMPhrasingAuthor(provider_factory=provider, label=label, on_usage=usage.append, **kw)


async def test_anthropic_writes_files_and_a_second_run_sends_nothing(
    tmp_path: Path, store: KnowledgeStore, anthropic_server: FakeAnthropicServer
) -> None:
    responder = PhrasingResponder(fenced=True)
    anthropic_server.respond(responder, usage={"input_tokens": 700, "output_tokens": 90})
    usage: list[Usage] = []
    sources = PhrasingSources(shipped=False, generated=tmp_path / "phrasings")
    author = anthropic_author(anthropic_server, usage, max_articles=2)
    report = await asyncio.to_thread(generate_phrasings, store, sources, author)
    # 地方自治法's three articles in two requests (at most two each), 地方公務員法's one in a third.
    assert sorted(responder.asked) == [
        ["第三十八条（営利企業への従事等の制限）"],
        ["第二百二十五条（使用料）", "第二百三十八条の四（行政財産の管理及び処分）"],
        ["第二百四十二条（住民監査請求）"],
    ]
    assert (report.requests, report.phrased, report.lines, report.failures) == (3, 4, 8, [])
    assert (report.input_tokens, report.output_tokens) == (2100, 270)
    assert [(u.provider, u.model, u.input_tokens) for u in usage] == [("anthropic", MODEL, 700)] * 3
    body = anthropic_server.requests[0].body
    assert body["system"][0]["text"] == SYSTEM_FIXED and "cache_control" in body["system"][0]
    loaded = load_file(tmp_path / "phrasings" / f"{JICHI_ID}.yaml", origin="generated")
    assert loaded.articles["225"] == (
        "第二百二十五条(使用料)の言い方", "第二百二十五条(使用料)について聞きたい?"
    )
    assert loaded.words["225"] == "第二百二十五条(使用料)の日常の言葉・具体例"
    sent = len(anthropic_server.requests)
    again = await asyncio.to_thread(generate_phrasings, store, sources, author)
    assert len(anthropic_server.requests) == sent and again.requests == 0 and again.cached == 4


async def test_openai_compatible_changed_article_and_a_malformed_batch(
    tmp_path: Path, store: KnowledgeStore, openai_server: FakeOpenAIServer
) -> None:
    responder = PhrasingResponder(malformed_when="住民監査請求")
    openai_server.respond(responder)

    def provider() -> OpenAICompatibleProvider:
        return OpenAICompatibleProvider(
            base_url=f"{openai_server.base_url}/v1", model="qwen-test", api_key="test-key", backoff_s=0.001
        )

    author = LLMPhrasingAuthor(provider_factory=provider, label="openai_compatible qwen-test", max_articles=1)
    sources = PhrasingSources(shipped=False, generated=tmp_path / "phrasings")
    report = await asyncio.to_thread(generate_phrasings, store, sources, author)
    assert report.requests == 4 and report.phrased == 3
    assert len(report.failures) == 1
    assert report.failures[0].startswith("地方自治法 第二百四十二条: malformed reply: not JSON")
    assert openai_server.requests[0].body["messages"][0]["content"] == SYSTEM_FIXED
    # Changed text of one article: only it is asked; the one that failed is asked again.
    write_doc(store, jichi(extra=True, text_238_4="行政財産は、貸し付けることができない。"), Segmenter())
    openai_server.respond(PhrasingResponder())
    before = len(openai_server.requests)
    again = await asyncio.to_thread(generate_phrasings, store, sources, author)
    asked = [request_text(r.body) for r in openai_server.requests[before:]]
    assert len(asked) == 2 and again.failures == []
    assert sorted(a.split("\n\n")[1].split("\n")[0] for a in asked) == [
        "[1] 第二百三十八条の四（行政財産の管理及び処分）",
        "[1] 第二百四十二条（住民監査請求）",
    ]
    assert "行政財産は、貸し付けることができない。" in "".join(asked)


async def test_llm_errors_are_reported_per_batch(
    tmp_path: Path, store: KnowledgeStore, anthropic_server: FakeAnthropicServer
) -> None:
    anthropic_server.respond(PhrasingResponder())
    anthropic_server.fail_next(400)  # a rejection is not retried: that batch fails, the rest go on
    author = anthropic_author(anthropic_server, [], max_articles=2, concurrency=1)
    sources = PhrasingSources(shipped=False, generated=tmp_path / "phrasings")
    report = await asyncio.to_thread(generate_phrasings, store, sources, author)
    assert (report.requests, report.phrased, len(report.failures)) == (3, 2, 1)
    assert report.failures[0].startswith("地方自治法 第二百二十五条〜第二百三十八条の四: anthropic: HTTP 400")


def test_no_provider_is_one_failure_and_no_request(tmp_path: Path, store: KnowledgeStore) -> None:
    author = LLMPhrasingAuthor(provider_factory=lambda: None, label="anthropic none")
    sources = PhrasingSources(shipped=False, generated=tmp_path / "phrasings")
    report = generate_phrasings(store, sources, author)
    assert report.requests == 0 and report.failures == [
        "4 articles in 2 documents: the LLM is not available (see the log)"
    ]
