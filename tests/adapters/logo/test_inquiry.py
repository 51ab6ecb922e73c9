"""The 照会 loop on LoGo Chat, end to end through the real client and the fake LoGo server: a question
地方自治法 cannot answer → abstention with draft → 「照会する」 with the edited 照会 → 【照会#1】 in the
法務担当 talk → a responder's 「照会#1 …」 → the asker told → someone else's same question answered from
the captured answer, cited, in under a second → corrected → withdrawn. LoGo has no threads: the
responder names the 照会."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from adapters.logo.adapter import LogoAdapter
from bot import wording
from kairan.wiring import Runtime
from tests.adapters.logo.conftest import LOCAL_AUTONOMY_ACT, make_client
from tests.fakes.inquiry import (
    SCENARIO_ANSWER,
    SCENARIO_CORRECTION,
    SCENARIO_PARAPHRASE,
    SCENARIO_QUESTION,
    scenario_runtime,
)
from tests.fakes.knowledge_base import law_kb
from tests.fakes.logo_server import BOT_ID, GROUP_TALK, SATO, UNMAPPED_TALK, YAMADA, LogoFakeServer

HOUMU_TALK = UNMAPPED_TALK  # the 法務担当 talk: 佐藤 answers there
OTHER = 154_223_713_582_055_690  # someone the fake does not know by name (ids are uint64-sized)
BOT_MENTION = f"{{@:{BOT_ID},4}}@回覧板"
YAMADA_MENTION = f"{{@:{YAMADA},6}}@山田 太郎"
FACTS = "婚姻により改姓した職員からの申出です。"
RELATED = "旧姓で職員証を発行できますか"  # the captured answer does not answer it, but is close


@pytest.fixture(scope="module")
def base_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return law_kb(tmp_path_factory.mktemp("logo-inquiry-kb"), LOCAL_AUTONOMY_ACT)


@pytest.fixture
def runtime(tmp_path: Path, base_kb: Path) -> Iterator[Runtime]:
    built = scenario_runtime(
        base_kb, tmp_path / "data", {"logo": {"url": "ws://127.0.0.1:9/api"}},
        asked_in=("logo", str(GROUP_TALK)), destination=("logo", str(HOUMU_TALK)), responders=[str(SATO)],
    )
    yield built
    built.db.close()


@pytest.fixture
async def adapter(server: LogoFakeServer, runtime: Runtime) -> AsyncIterator[LogoAdapter]:
    built = LogoAdapter(client=make_client(server), manifest=runtime.manifest, lifecycle=runtime.lifecycle,
                        start_timeout=5.0)
    await built.start()
    yield built
    await built.stop()


def texts(server: LogoFakeServer, talk: int) -> list[str]:
    return [c.params[2] for c in server.sent(talk)]


async def said(server: LogoFakeServer, talk: int, count: int) -> list[str]:
    await server.wait_for(lambda: len(server.sent(talk)) >= count, timeout=20)
    return texts(server, talk)


async def test_the_inquiry_loop_on_logo(
    server: LogoFakeServer, adapter: LogoAdapter, runtime: Runtime
) -> None:
    await server.push_message(talk_id=GROUP_TALK, user_id=YAMADA, text=f"{BOT_MENTION} {SCENARIO_QUESTION}")
    await server.wait_for(lambda: any("照会する」と返信してください" in t for t in texts(server, GROUP_TALK)))
    await adapter.flow.drain()
    answer = "\n".join(texts(server, GROUP_TALK))
    assert answer.startswith(f"{YAMADA_MENTION}\n根拠となる資料が見つかりませんでした。")
    assert "【照会文案】" in answer and wording.INQUIRY_HOW_TO_SEND in answer
    shown = len(texts(server, GROUP_TALK))

    # The asker sends it with a fact added; the same message delivered again (a backfill) sends nothing.
    confirm, _ = await server.push_message(talk_id=GROUP_TALK, user_id=YAMADA,
                                           text=f"{BOT_MENTION} 照会する\n件名：旧姓の名札について\n{FACTS}")
    [posted, *_] = await said(server, HOUMU_TALK, 1)
    assert posted.startswith("【照会#1】テスト市から法務担当への照会") and FACTS in posted
    assert "質問者: 山田 太郎（LoGo）" in posted
    everything = "\n".join(texts(server, HOUMU_TALK))
    assert "「照会#1」に続けて書いてください" in everything and SCENARIO_QUESTION in everything
    sent = (await said(server, GROUP_TALK, shown + 1))[-1]
    assert sent == f"{YAMADA_MENTION}\n{wording.INQUIRY_SENT.format(number='照会#1', destination='法務担当')}"
    await server.push("notify_create_message", confirm)
    await server.push_message(talk_id=GROUP_TALK, user_id=SATO, text=f"{BOT_MENTION} 照会する")  # no offer
    nothing = (await said(server, GROUP_TALK, shown + 2))[-1]
    assert nothing.endswith(wording.INQUIRY_NOTHING_TO_SEND)
    assert adapter.inquiries is not None
    await adapter.inquiries.drain()
    assert len(texts(server, GROUP_TALK)) == shown + 2
    houmu = len(texts(server, HOUMU_TALK))

    # 佐藤 (a responder) answers, naming the 照会; the asker is told, with the answer cited.
    await server.push_message(talk_id=HOUMU_TALK, user_id=SATO,
                              text=f"{BOT_MENTION} 照会#1 {SCENARIO_ANSWER}")
    receipt = (await said(server, HOUMU_TALK, houmu + 1))[-1]
    assert receipt == wording.INQUIRY_RECEIPT.format(number="照会#1", revision=1)
    told = (await said(server, GROUP_TALK, shown + 3))[-1]
    lead = "照会#1に法務担当から回答がありました。"
    assert told.startswith(f"{YAMADA_MENTION}\n{lead}\n\n{SCENARIO_ANSWER}[1]")
    assert "【出典】\n［1］照会回答 " in told and " 法務担当 照会1" in told
    date = told.split("［1］照会回答 ", 1)[1][:10]

    # Someone else asks the same question (and in other words): answered from it, cited, at once.
    before = len(texts(server, GROUP_TALK))
    started = time.monotonic()
    await server.push_message(talk_id=GROUP_TALK, user_id=OTHER, text=f"{BOT_MENTION} {SCENARIO_QUESTION}")
    again = (await said(server, GROUP_TALK, before + 1))[-1]
    assert time.monotonic() - started < 1.0
    assert "根拠となる資料が見つかりませんでした" not in again and "旧姓を使用して差し支えありません" in again
    assert "【出典】\n［1］照会回答 " in again and f"※ {wording.INTERNAL_ANSWER_NOTE}" in again
    await server.push_message(talk_id=GROUP_TALK, user_id=OTHER, text=f"{BOT_MENTION} {SCENARIO_PARAPHRASE}")
    assert "［1］照会回答 " in (await said(server, GROUP_TALK, before + 2))[-1]
    # A related question it does not answer: the asker is shown it before sending a 照会 of their own.
    await server.push_message(talk_id=GROUP_TALK, user_id=OTHER, text=f"{BOT_MENTION} {RELATED}")
    await server.wait_for(lambda: wording.INQUIRY_SIMILAR in "\n".join(texts(server, GROUP_TALK)[before:]))
    await adapter.flow.drain()
    related = "\n".join(texts(server, GROUP_TALK)[before + 2:])
    other_mention = f"{{@:{OTHER},{len(f'@{OTHER}')}}}@{OTHER}"  # the markup counts the @ as well
    assert related.startswith(f"{other_mention}\n根拠となる資料が見つかりませんでした。")
    assert f"・照会回答 {date} 法務担当 照会1「{SCENARIO_QUESTION}」[1]" in related
    before = len(texts(server, GROUP_TALK))

    # A new answer corrects it; 「照会#1 取り下げ」 withdraws it, and the question abstains again.
    await server.push_message(talk_id=HOUMU_TALK, user_id=SATO, text=f"照会＃１　{SCENARIO_CORRECTION}")
    corrected = (await said(server, GROUP_TALK, before + 1))[-1]
    lead = "照会#1の回答が訂正されました。"
    assert corrected.startswith(f"{YAMADA_MENTION}\n{lead}\n\n{SCENARIO_CORRECTION}[1]")
    await server.push_message(talk_id=HOUMU_TALK, user_id=SATO, text="照会#1 取り下げ")
    withdrawn = (await said(server, GROUP_TALK, before + 2))[-1]
    assert withdrawn == f"{YAMADA_MENTION}\n" + wording.INQUIRY_WITHDRAWN.format(number="照会#1")
    await server.push_message(talk_id=GROUP_TALK, user_id=OTHER, text=f"{BOT_MENTION} {SCENARIO_QUESTION}")
    await server.wait_for(
        lambda: "根拠となる資料が見つかりませんでした" in "\n".join(texts(server, GROUP_TALK)[before + 2:])
    )
    assert runtime.inquiries is not None
    [inquiry] = runtime.inquiries.store.listing()
    assert (inquiry.state, inquiry.revision, inquiry.responder) == ("withdrawn", 2, str(SATO))
