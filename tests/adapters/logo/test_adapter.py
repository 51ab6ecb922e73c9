from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from adapters.logo.render import reply_chunks, text_length
from bot.models import Answer, ConversationRef, Digest, DigestItem
from bot.ports import Answerer
from bot.state.db import Database
from bot.wording import APOLOGY
from manifest.schema import Manifest
from tests.adapters.logo.conftest import make_adapter, manifest_data, running
from tests.fakes.engines import FailingEngine, FixedAnswerEngine
from tests.fakes.logo_server import (
    BOT_ID,
    GROUP_TALK,
    OTHER_BOT,
    PAIR_TALK,
    SATO,
    UNMAPPED_TALK,
    YAMADA,
    LogoFakeServer,
)

BOT_MENTION = f"{{@:{BOT_ID},4}}@回覧板"
YAMADA_MENTION = f"{{@:{YAMADA},6}}@山田 太郎"
SATO_MENTION = f"{{@:{SATO},6}}@佐藤 花子"
QUESTION = "行政財産の目的外使用の許可の根拠は？"
SOURCE_LINE = "［1］地方自治法 第二百三十八条の四 https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4"


def replies_to(server: LogoFakeServer, talk_id: int) -> list[str]:
    return [c.params[2] for c in server.sent(talk_id)]


async def test_mentioned_question_gets_a_cited_answer(
    server: LogoFakeServer, real_engine: Answerer, db: Database, manifest: Manifest
) -> None:
    adapter = make_adapter(server, engine=real_engine, db=db, manifest=manifest)
    async with running(adapter):
        assert adapter.connected()
        question, push_id = await server.push_message(talk_id=GROUP_TALK, user_id=YAMADA,
                                                      text=f"{BOT_MENTION} {QUESTION}")
        assert push_id is not None
        await server.wait_for(lambda: push_id in server.acks and bool(server.sent(GROUP_TALK))
                              and (BOT_ID, GROUP_TALK) in server.read_up_to)
        assert server.acks[push_id] == [1, push_id, None, True]
        (reply,) = replies_to(server, GROUP_TALK)
        assert reply.startswith(f"{YAMADA_MENTION}\nAIによる要約ではなく、検索結果です。")
        assert "「行政財産は、その用途又は目的を妨げない限度においてその使用を許可することができる。」" in (
            reply
        )
        assert f"【出典】\n{SOURCE_LINE}\n" in reply
        assert text_length(reply) <= 1024
        # 既読: the bot marked the question read (LoGo keeps one read position per talk)
        assert server.read_up_to[(BOT_ID, GROUP_TALK)] == question["message_id"]
    assert not adapter.connected()


async def test_group_message_without_mention_is_ignored_and_pair_talk_is_answered(
    server: LogoFakeServer, db: Database, manifest: Manifest
) -> None:
    engine = FixedAnswerEngine(Answer(text="回答です。", citations=(), abstained=False))
    adapter = make_adapter(server, engine=engine, db=db, manifest=manifest)
    async with running(adapter):
        await server.push_message(talk_id=GROUP_TALK, user_id=SATO, text=f"{QUESTION}（独り言）")
        await server.push_message(talk_id=GROUP_TALK, user_id=OTHER_BOT, text=f"{BOT_MENTION} 定時", bot=True)
        await server.push_message(talk_id=GROUP_TALK, user_id=BOT_ID, text=f"{BOT_MENTION} 自分の投稿")
        await server.push_message(talk_id=PAIR_TALK, user_id=YAMADA, text=QUESTION)  # 1:1, no mention
        await server.push_message(talk_id=GROUP_TALK, user_id=SATO, text=f"{SATO_MENTION} {BOT_MENTION} 質問")
        await server.wait_for(lambda: bool(server.sent(PAIR_TALK) and server.sent(GROUP_TALK)))
        await asyncio.sleep(0.1)
        assert replies_to(server, PAIR_TALK) == [f"{YAMADA_MENTION}\n回答です。"]
        assert replies_to(server, GROUP_TALK) == [f"{SATO_MENTION}\n回答です。"]
        # Only what the bot answers is marked read: the talk up to the question, not past it.
        await server.wait_for(lambda: len(server.read_up_to) == 2)
        asked = max(m["message_id"] for m in server.messages if m["talk_id"] == GROUP_TALK
                    and m["user_id"] == SATO and str(BOT_ID) in m["content"])
        answered_pair = next(m["message_id"] for m in server.messages if m["talk_id"] == PAIR_TALK)
        assert server.read_up_to == {(BOT_ID, GROUP_TALK): asked, (BOT_ID, PAIR_TALK): answered_pair}
        assert sorted(q.text for q in engine.questions) == sorted([QUESTION, "@佐藤 花子 質問"])
        pair = next(q for q in engine.questions if q.ref.channel == str(PAIR_TALK))
        assert (pair.ref.tenant, pair.user, pair.ref.message is not None) == ("yokosuka", str(YAMADA), True)
        assert engine.collections == [["laws"], ["laws"]]


async def test_the_servers_mention_flag_decides_who_is_asked(
    server: LogoFakeServer, db: Database, manifest: Manifest
) -> None:
    engine = FixedAnswerEngine(Answer(text="回答です。", citations=(), abstained=False))
    adapter = make_adapter(server, engine=engine, db=db, manifest=manifest)
    async with running(adapter):
        # Flagged for the bot by the server though the text has no markup kairan reads: answered.
        flagged = server.store_message(talk_id=GROUP_TALK, user_id=YAMADA, text="回覧板さん、教えて")
        await server.push("notify_create_message", flagged | {"mention": True})
        # Markup for the bot, but the server says it does not mention the bot: not answered.
        unflagged = server.store_message(talk_id=GROUP_TALK, user_id=SATO, text=f"{BOT_MENTION} 引用です")
        ignored = await server.push("notify_create_message", unflagged | {"mention": False})
        await server.wait_for(lambda: ignored in server.acks and len(server.sent(GROUP_TALK)) == 1)
        await asyncio.sleep(0.1)
        assert replies_to(server, GROUP_TALK) == [f"{YAMADA_MENTION}\n回答です。"]
        assert [q.text for q in engine.questions] == ["回覧板さん、教えて"]


async def test_other_bots_are_answered_when_configured(
    server: LogoFakeServer, db: Database, manifest: Manifest
) -> None:
    engine = FixedAnswerEngine(Answer(text="回答です。", citations=(), abstained=False))
    adapter = make_adapter(server, engine=engine, db=db, manifest=manifest, answer_bots=True)
    async with running(adapter):
        await server.push_message(talk_id=GROUP_TALK, user_id=OTHER_BOT, text=f"{BOT_MENTION} 定時", bot=True)
        await server.wait_for(lambda: bool(server.sent(GROUP_TALK)))
        assert replies_to(server, GROUP_TALK) == [f"{{@:{OTHER_BOT},5}}@別ボット\n回答です。"]


async def test_unlisted_talks_get_only_public_collections_or_nothing_as_the_admin_chooses(
    server: LogoFakeServer, db: Database
) -> None:
    """Without default_tenant, a 1:1 talk or an unlisted group talk of a single-tenant manifest is
    answered like a Slack DM or an unlisted Teams chat: from the public collections of that tenant
    (before, LoGo alone ignored them). With ``unlisted.access: none`` they are not answered."""
    data = manifest_data()
    data["knowledge"] = {"collections": [{"name": "laws", "public": True}, {"name": "internal"}]}
    data["tenants"][0]["collections"] = ["laws", "internal"]

    async def asked(access: str, expected: int) -> dict[int, list[str] | None]:
        """The talks whose questions reached the engine, with the collections each could search."""
        manifest = Manifest.model_validate(data | {"unlisted": {"access": access}})
        engine = FixedAnswerEngine(Answer(text="回答です。", citations=(), abstained=False))
        adapter = make_adapter(server, engine=engine, db=db, manifest=manifest)
        async with running(adapter):
            await server.push_message(talk_id=PAIR_TALK, user_id=YAMADA, text=QUESTION)
            await server.push_message(talk_id=UNMAPPED_TALK, user_id=SATO, text=f"{BOT_MENTION} {QUESTION}")
            await server.push_message(talk_id=GROUP_TALK, user_id=YAMADA, text=f"{BOT_MENTION} {QUESTION}")
            await server.wait_for(lambda: len(engine.questions) >= expected)
            await asyncio.sleep(0.1)
        return {int(q.ref.channel): c for q, c in zip(engine.questions, engine.collections, strict=True)}

    # The listed talk searches the tenant's collections; the unlisted ones only the public one.
    expected = {GROUP_TALK: ["laws", "internal"], PAIR_TALK: ["laws"], UNMAPPED_TALK: ["laws"]}
    assert await asked("public", 3) == expected
    assert await asked("none", 1) == {GROUP_TALK: ["laws", "internal"]}


async def test_forced_disconnect_reconnects_and_never_answers_twice(
    server: LogoFakeServer, db: Database, manifest: Manifest
) -> None:
    engine = FixedAnswerEngine(Answer(text="回答です。", citations=(), abstained=False))
    adapter = make_adapter(server, engine=engine, db=db, manifest=manifest)
    async with running(adapter):
        payload, _ = await server.push_message(talk_id=PAIR_TALK, user_id=YAMADA, text=QUESTION)
        await server.wait_for(lambda: len(server.sent(PAIR_TALK)) == 1)
        await server.drop()
        await server.wait_for(lambda: adapter.client.sessions == 2 and adapter.connected())
        assert server.methods(connection=2)[:2] == ["create_session", "start_notification"]  # resumed
        again = await server.push("notify_create_message", payload)  # the server re-pushes it
        _, sentinel = await server.push_message(talk_id=PAIR_TALK, user_id=YAMADA, text="別の質問")
        await server.wait_for(lambda: again in server.acks and sentinel in server.acks
                              and len(server.sent(PAIR_TALK)) == 2)
        await asyncio.sleep(0.1)
        assert len(server.sent(PAIR_TALK)) == 2
        assert [q.text for q in engine.questions] == [QUESTION, "別の質問"]
    # A restarted process (new adapter, same state database) does not answer it either.
    restarted = make_adapter(server, engine=engine, db=db, manifest=manifest)
    async with running(restarted):
        again = await server.push("notify_create_message", payload)
        _, sentinel = await server.push_message(talk_id=PAIR_TALK, user_id=YAMADA, text="三つ目")
        await server.wait_for(lambda: len(server.sent(PAIR_TALK)) == 3)
        await asyncio.sleep(0.1)
        assert [q.text for q in engine.questions] == [QUESTION, "別の質問", "三つ目"]


async def test_long_answer_is_split_into_ordered_spaced_chunks(
    server: LogoFakeServer, db: Database, manifest: Manifest
) -> None:
    body = "\n".join(f"第{i}段落：" + "行政財産の管理について。" * 6 for i in range(1, 31))
    engine = FixedAnswerEngine(Answer(text=body, citations=(), abstained=False))
    adapter = make_adapter(server, engine=engine, db=db, manifest=manifest,
                           max_message_length=300, send_interval=0.05)
    async with running(adapter):
        await server.push_message(talk_id=PAIR_TALK, user_id=YAMADA, text=QUESTION)
        expected = reply_chunks(body, limit=300, mention=YAMADA_MENTION)
        await server.wait_for(lambda: len(server.sent(PAIR_TALK)) == len(expected))
        sent = server.sent(PAIR_TALK)
        assert [c.params[2] for c in sent] == expected
        assert len(expected) >= 8
        assert all(text_length(c.params[2]) <= 300 for c in sent)
        assert sent[0].params[2].startswith(f"{YAMADA_MENTION}\n第1段落：")
        assert sent[-1].params[2].endswith("第30段落：" + "行政財産の管理について。" * 6)
        assert all(b.at - a.at >= 0.045 for a, b in itertools.pairwise(sent))


async def test_engine_failure_posts_an_apology_and_logs(
    server: LogoFakeServer, db: Database, manifest: Manifest, caplog: pytest.LogCaptureFixture
) -> None:
    engine = FailingEngine(RuntimeError("database password=hunter2 leaked in trace"))
    adapter = make_adapter(server, engine=engine, db=db, manifest=manifest)
    async with running(adapter):
        with caplog.at_level(logging.ERROR, logger="bot.flow.lifecycle"):
            await server.push_message(talk_id=GROUP_TALK, user_id=YAMADA, text=f"{BOT_MENTION} {QUESTION}")
            await server.wait_for(lambda: bool(server.sent(GROUP_TALK)))
        assert replies_to(server, GROUP_TALK) == [f"{YAMADA_MENTION}\n{APOLOGY}"]
        (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert record.getMessage().startswith("LoGo: answering message")
        assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])


async def test_send_posts_a_digest_without_mention(
    server: LogoFakeServer, db: Database, manifest: Manifest
) -> None:
    engine = FixedAnswerEngine(Answer(text="x", citations=(), abstained=False))
    adapter = make_adapter(server, engine=engine, db=db, manifest=manifest)
    async with running(adapter):
        item = DigestItem(title="通知", url="https://www.soumu.go.jp/n.html", summary="",
                          published="2025-04-01", source="総務省")
        ref = ConversationRef(platform="logo", tenant="yokosuka", channel=str(GROUP_TALK))
        await adapter.send(ref, Digest(subscription="s", items=(item,)))
        assert replies_to(server, GROUP_TALK) == [
            "【新着情報】1件\n\n■ 通知\n2025-04-01（総務省）\nhttps://www.soumu.go.jp/n.html"
        ]
