from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from bot.digest.compose import Candidate, compose, digest_marker, matches, render_text
from bot.digest.summarise import Summariser, opening_sentences
from bot.llm.base import Completion, LLMUnavailable, Prompt, StreamDone, StreamEvent
from bot.models import Usage
from knowledge.parsers import parse_file
from tests.bot.digest.conftest import NTA

BASE = Candidate(
    source_id="nta-kihon", item_id="1", title="第4節　納税義務の免除（消費税法基本通達）", url="https://x/1.htm",
    summary="小規模事業者に係る納税義務の免除の取扱い。", published="2025-03-31T17:00:00+09:00",
    category="消費税", source_name="nta-kihon", seen_at="2025-04-01T00:00:00.000000Z",
)  # fmt: skip


def test_keyword_filter_is_nfkc_and_case_insensitive_category_is_exact() -> None:
    assert matches(BASE, keywords=("ｼｮｳﾋ", "納税義務"))
    assert matches(replace(BASE, title="ＰＤＦ版"), keywords=("pdf",))
    assert not matches(BASE, keywords=("相続税",))
    assert matches(BASE, categories=("消費税", "法人税"))
    assert not matches(BASE, categories=("所得税",))
    assert matches(BASE)


def test_compose_takes_the_oldest_first_and_lists_newest_first() -> None:
    items = [
        replace(BASE, item_id=str(n), url=f"https://x/{n}.htm", title=f"通知{n}",
                seen_at=f"2025-04-0{n}T00:00:00.000000Z", published=f"2025-03-0{n}")
        for n in (3, 1, 2)
    ]  # fmt: skip
    digest, chosen = compose("sub", items, max_items=2)
    assert [c.item_id for c in chosen] == ["1", "2"]
    assert [i.title for i in digest.items] == ["通知2", "通知1"]
    assert digest.items[0].published == "2025-03-02"
    with pytest.raises(ValueError, match="max_items must be >= 1"):
        compose("sub", items, max_items=0)


def test_marker_depends_on_subscription_and_items_only() -> None:
    digest, _ = compose("sub", [BASE])
    same, _ = compose("sub", [replace(BASE, summary="別の要約")])
    assert digest_marker(digest) == digest_marker(same)
    assert digest_marker(digest).startswith("kairan-digest:") and len(digest_marker(digest)) == 38
    other, _ = compose("other", [BASE])
    assert digest_marker(other) != digest_marker(digest)


def test_render_text_in_japanese() -> None:
    digest, _ = compose("soumu", [BASE])
    assert render_text(digest) == (
        "【新着通知】soumu（1件）\n\n"
        "1. 第4節　納税義務の免除（消費税法基本通達）\n"
        "   2025-03-31 nta-kihon\n"
        "   小規模事業者に係る納税義務の免除の取扱い。\n"
        "   https://x/1.htm"
    )
    empty, _ = compose("soumu", [])
    assert render_text(empty) == "【新着通知】soumu: 新着はありません。"


DOC = parse_file(NTA / "www.nta.go.jp_law_jimu-unei_sozoku_170111_1_01.htm")
OPENING = (
    "標題のことについて、国税通則法（以下「通則法」という。）第65条及び第66条の規定の適用に関し留意すべき事項等を"
    "下記のとおり定めたから、今後処理するものからこれにより取り扱われたい。"
)


def test_extractive_summary_skips_the_letterhead_and_keeps_brackets_whole() -> None:
    summary = opening_sentences("\n".join(s.text for s in DOC.sections))
    assert summary.startswith(OPENING)
    assert summary.endswith(
        "相続税、贈与税の過少申告加算税及び無申告加算税の賦課に関する取扱基準の整備等を図ったものである。"
    )
    assert (
        opening_sentences("法人税法　一部改正通達\n改正　令和7年4月1日\n通達一覧")
        == "法人税法　一部改正通達 / 通達一覧"
    )


class ScriptedLLM:
    name = "fake"
    model = "fake-1"

    def __init__(self, reply: str | Exception) -> None:
        self.reply = reply
        self.prompts: list[Prompt] = []

    async def complete(self, prompt: Prompt) -> Completion:
        self.prompts.append(prompt)
        if isinstance(self.reply, Exception):
            raise self.reply
        return Completion(self.reply, Usage("fake", "fake-1"), "end_turn")

    async def stream(self, prompt: Prompt) -> AsyncIterator[StreamEvent]:
        """The scripted reply in one event (the summariser only calls ``complete``)."""
        yield StreamDone(await self.complete(prompt))

    async def aclose(self) -> None:
        return None


async def test_llm_summary_is_verified_and_markers_removed() -> None:
    llm = ScriptedLLM(
        "相続税と贈与税の過少申告加算税及び無申告加算税の取扱いを定めた事務運営指針です[1]。"
        "「今後処理するものからこれにより取り扱われたい」とされています[1]。"
    )
    summary = await Summariser(llm=llm).summarise(
        DOC, title="相続税…（事務運営指針）", url="https://nta/x.htm"
    )
    assert not summary.extractive
    assert summary.text == (
        "相続税と贈与税の過少申告加算税及び無申告加算税の取扱いを定めた事務運営指針です。"
        "「今後処理するものからこれにより取り扱われたい」とされています。"
    )
    [prompt] = llm.prompts
    assert prompt.system_context == ""  # the fetched document is data in the user turn, not an instruction
    assert prompt.messages[-1].text.startswith('<source n="1" title="相続税…（事務運営指針）"')


@pytest.mark.parametrize(
    "reply",
    [
        "「延納は認められない」とされています[1]。",  # a quote that is not in the document
        "加算税の取扱いが定められました。",  # cites nothing
        LLMUnavailable("fake", "overloaded", status=529, retryable=True),
    ],
)
async def test_unsupported_llm_summary_falls_back_to_the_opening(reply: str | Exception) -> None:
    summary = await Summariser(llm=ScriptedLLM(reply)).summarise(DOC, title="t", url="https://nta/x.htm")
    assert summary.extractive and summary.text.startswith(OPENING)
    assert summary.warnings
