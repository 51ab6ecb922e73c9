"""The 照会 loop end to end on toy platforms: offer, send once, capture once, tell, keep, correct, withdraw,
and finish what an outage or a stopped bot left."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from bot import wording
from bot.inquiry.desk import InquiryDesk, InquirySettings
from bot.inquiry.similar import Similar
from bot.inquiry.store import ANSWERED, OPEN, WITHDRAWN, InquiryStore, Source
from bot.models import Answer, Citation
from bot.redaction import RedactionPolicy
from bot.state.db import Database
from tests.bot.inquiry.conftest import (
    ASK_CHANNEL,
    ASKER,
    DEST,
    QUESTION,
    KeptAnswers,
    build_loop,
    manifest,
)
from tests.fakes.inquiry import ToyPort

ANSWER_TEXT = "職員の名札には、本人の申出により旧姓を使用して差し支えありません。"


async def test_an_abstention_offers_a_draft_that_is_sent_once_answered_once_and_kept(db: Database) -> None:
    loop = build_loop(db, manifest=manifest())
    await loop.ask()
    [answer] = loop.asker.channel.texts(ASK_CHANNEL)
    assert answer.endswith("[照会する:audit-1]")  # the answer carries its offer's key

    assert await loop.desk.confirm("audit-1", user=ASKER) is None
    again = await loop.desk.confirm("audit-1", user=ASKER)
    assert again == wording.INQUIRY_ALREADY_SENT.format(number="照会#1")
    await loop.desk.drain()
    [posted] = loop.asker.channel.texts(DEST)
    assert posted.startswith("【照会#1】テスト市から法務担当への照会")
    assert QUESTION in posted and "件名：" in posted and "kairan の検索結果（回答を控えました）" in posted
    assert "https://toy.example/slack/C0ASK/t1" in posted  # back to the asker's thread
    told = loop.asker.channel.texts(ASK_CHANNEL, "t1")
    assert told[-1] == f"@{ASKER} " + wording.INQUIRY_SENT.format(number="照会#1", destination="法務担当")

    reply = loop.reply(ANSWER_TEXT)
    assert await loop.desk.reply(reply)
    assert await loop.desk.reply(reply)  # the same message again (a mention and a channel event): once
    await loop.desk.drain()
    inquiry = await asyncio.to_thread(loop.store.get, 1)
    assert inquiry is not None
    assert (inquiry.state, inquiry.revision, inquiry.answer) == (ANSWERED, 1, ANSWER_TEXT)
    assert loop.book.kept == {1: ANSWER_TEXT} and loop.book.writes == [("put", 1, 1)]
    told = loop.asker.channel.texts(ASK_CHANNEL, "t1")
    assert len(told) == 3  # the answer, "sent", "answered"
    assert told[-1].startswith(f"@{ASKER} 照会#1に法務担当から回答がありました。")
    assert ANSWER_TEXT + "[1]" in told[-1] and wording.INTERNAL_ANSWER_NOTE in told[-1]
    assert "[1] 照会回答 " in told[-1] and " 法務担当 照会1 https://toy.example/slack/C0HOUMU/r1" in told[-1]
    receipts = loop.asker.channel.texts(DEST, inquiry.dest_message)
    assert receipts == [wording.INQUIRY_RECEIPT.format(number="照会#1", revision=1)]
    assert inquiry.age() >= timedelta(0) and not inquiry.work


async def test_an_edited_answer_supersedes_and_a_deleted_one_is_withdrawn(db: Database) -> None:
    loop = build_loop(db, manifest=manifest())
    await loop.ask()
    await loop.desk.confirm("audit-1", user=ASKER)
    await loop.desk.drain()
    await loop.desk.reply(loop.reply(ANSWER_TEXT))
    await loop.desk.drain()

    corrected = "旧姓の使用は、人事課に届け出たうえで認めます。"
    assert await loop.desk.edited("slack", DEST, "r1", corrected)
    assert await loop.desk.edited("slack", DEST, "r1", corrected)  # the same edit again: no change
    await loop.desk.drain()
    assert loop.book.kept == {1: corrected}
    told = loop.asker.channel.texts(ASK_CHANNEL, "t1")
    assert told[-1].startswith(f"@{ASKER} 照会#1の回答が訂正されました。")

    assert not await loop.desk.deleted("slack", DEST, "unrelated")
    assert await loop.desk.deleted("slack", DEST, "r1")
    await loop.desk.drain()
    inquiry = await asyncio.to_thread(loop.store.get, 1)
    assert inquiry is not None and inquiry.state == WITHDRAWN
    assert loop.book.kept == {} and [w[0] for w in loop.book.writes] == ["put", "put", "remove"]
    assert loop.asker.channel.texts(ASK_CHANNEL, "t1")[-1] == f"@{ASKER} " + wording.INQUIRY_WITHDRAWN.format(
        number="照会#1"
    )

    # A new reply answers it again; 「取り下げ」 in the thread withdraws that one.
    await loop.desk.reply(loop.reply("やはり差し支えありません。", message="r2"))
    await loop.desk.drain()
    assert loop.book.kept == {1: "やはり差し支えありません。"}
    await loop.desk.reply(loop.reply("取り下げます。", message="r3"))
    await loop.desk.drain()
    assert loop.book.kept == {}


async def test_only_the_asker_sends_and_only_responders_answer(db: Database) -> None:
    loop = build_loop(db, manifest=manifest())
    await loop.ask()
    assert await loop.desk.confirm("audit-1", user="U0SOMEONE") == wording.INQUIRY_NOT_ASKER
    assert await loop.desk.confirm("no-such-offer", user=ASKER) == wording.INQUIRY_EXPIRED
    assert loop.asker.channel.texts(DEST) == []
    await loop.desk.confirm("audit-1", user=ASKER)
    await loop.desk.drain()

    assert await loop.desk.reply(loop.reply("私見ですが…", user="U0COLLEAGUE"))  # in the thread: consumed
    assert not await loop.desk.reply(loop.reply("別の質問", thread="999"))  # not an inquiry's thread
    assert not await loop.desk.reply(loop.reply("新しい話題", message="top", thread="top"))  # top level
    await loop.desk.drain()
    inquiry = await asyncio.to_thread(loop.store.get, 1)
    assert inquiry is not None and inquiry.state == OPEN and loop.book.kept == {}


async def test_channel_members_answer_except_the_asker(db: Database) -> None:
    loop = build_loop(db, manifest=manifest(responders={"channel_members": True}))
    await loop.ask()
    await loop.desk.confirm("audit-1", user=ASKER)
    await loop.desk.drain()
    await loop.desk.reply(loop.reply("補足です", user=ASKER, message="a1"))
    await loop.desk.reply(loop.reply(ANSWER_TEXT, user="U0ANYONE", message="a2"))
    await loop.desk.drain()
    assert loop.book.kept == {1: ANSWER_TEXT}


async def test_the_edited_draft_is_redacted_and_refused_in_block_mode(db: Database) -> None:
    loop = build_loop(db, manifest=manifest())
    await loop.ask()
    await loop.desk.confirm("audit-1", user=ASKER, text="山田太郎さん（090-1234-5678）の件で照会します。")
    await loop.desk.drain()
    [posted] = loop.asker.channel.texts(DEST)
    assert "090-1234-5678" not in posted and "［電話番号］" in posted and "［氏名］" in posted

    abstained = Answer(text="…", citations=(), abstained=True, inquiry_draft="…", audit_id="a2")
    strict = build_loop(db, manifest=manifest(), redaction=RedactionPolicy(mode="block"), answer=abstained)
    await strict.ask(2)
    refused = await strict.desk.confirm("a2", user=ASKER, text="電話 090-1234-5678 の方の件")
    assert refused == wording.INQUIRY_PERSONAL_DATA


async def test_any_answer_can_be_sent_with_its_sources_as_the_draft(db: Database) -> None:
    cited = Answer(
        text="行政財産は貸し付けられません[1]。", abstained=False, audit_id="audit-9",
        citations=(Citation(1, "322AC0000000067", "238_4", "地方自治法 第二百三十八条の四",
                            "https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4", "", True),),
    )
    loop = build_loop(db, manifest=manifest(), answer=cited)
    await loop.ask()
    offer = await loop.desk.draft("audit-9")
    assert offer is not None and not offer.abstained
    assert "（1）地方自治法 第二百三十八条の四" in offer.draft and "テスト市" in offer.draft
    await loop.desk.confirm("audit-9", user=ASKER)
    await loop.desk.drain()
    [posted] = loop.asker.channel.texts(DEST)
    assert "kairan の回答（参考）" in posted
    assert "・地方自治法 第二百三十八条の四 https://laws.e-gov.go.jp" in posted


async def test_a_platform_outage_is_retried_by_the_sweep(db: Database) -> None:
    loop = build_loop(db, manifest=manifest())
    await loop.ask()
    loop.asker.channel.down = True
    await loop.desk.confirm("audit-1", user=ASKER)
    await loop.desk.drain()
    assert loop.asker.channel.texts(DEST) == []
    loop.asker.channel.down = False
    assert await loop.desk.sweep() == 1
    await loop.desk.drain()
    assert len(loop.asker.channel.texts(DEST)) == 1
    assert loop.asker.channel.texts(ASK_CHANNEL, "t1")[-1].endswith("ここでお知らせします。")
    assert await loop.desk.sweep() == 0  # nothing left


async def test_a_refused_inquiry_fails_and_the_asker_is_told(db: Database) -> None:
    loop = build_loop(db, manifest=manifest())
    await loop.ask()
    loop.asker.channel.reject = 1
    await loop.desk.confirm("audit-1", user=ASKER)
    await loop.desk.drain()
    assert loop.asker.channel.texts(DEST) == []
    told = loop.asker.channel.texts(ASK_CHANNEL, "t1")[-1]
    assert told == f"@{ASKER} " + wording.INQUIRY_FAILED.format(number="照会#1", destination="法務担当")


async def test_a_replica_finishes_what_a_stopped_bot_left_and_posts_the_inquiry_once(db: Database) -> None:
    store = InquiryStore(db, lease=timedelta(seconds=0.2), backoff=timedelta(0))
    first = build_loop(db, manifest=manifest(), store=store)
    await first.ask()
    offer = await first.desk.draft("audit-1")
    assert offer is not None
    # The first bot took the inquiry, posted it, and stopped before recording that it had.
    inquiry, created = await asyncio.to_thread(
        lambda: store.open(offer, text=offer.draft, dest_platform="slack", dest_channel=DEST)
    )
    assert created
    await first.asker.publish(DEST, ["【照会#1】(posted before the bot stopped)"], marker="kairan-inquiry-1")

    second = InquiryDesk(store=store, manifest=manifest(), book=KeptAnswers(),
                         settings=InquirySettings(sweep_interval=3600))
    second.attach(first.asker)  # the same platform, reached from another replica
    assert await second.sweep() == 0  # the first bot's lease has not ended
    await asyncio.sleep(0.3)
    assert await second.sweep() == 1
    await second.drain()
    assert len(first.asker.channel.texts(DEST)) == 1  # found where it was, not posted again
    found = await asyncio.to_thread(store.get, inquiry.id)
    assert found is not None and found.state == OPEN and found.dest_message == first.asker.published[0].id
    assert first.asker.channel.texts(ASK_CHANNEL, "t1")[-1].endswith("ここでお知らせします。")


async def test_on_a_platform_without_threads_the_responder_names_the_inquiry(db: Database) -> None:
    logo = ToyPort("logo", threaded=False)
    loop = build_loop(db, manifest=manifest(dest_platform="logo"), extra=[logo])
    await loop.ask()
    await loop.desk.confirm("audit-1", user=ASKER)
    await loop.desk.drain()
    [posted] = logo.channel.texts(DEST)
    assert "「照会#1」に続けて書いてください" in posted

    assert not await loop.desk.reply(loop.reply("名札の件ですが"))  # names no inquiry: a question
    assert not await loop.desk.reply(loop.reply("照会#99 回答です"))  # no such inquiry
    assert await loop.desk.reply(loop.reply(f"照会＃１　{ANSWER_TEXT}", message="m1"))
    await loop.desk.drain()
    assert loop.book.kept == {1: ANSWER_TEXT}
    assert logo.channel.texts(DEST)[-1] == wording.INQUIRY_RECEIPT.format(number="照会#1", revision=1)
    await loop.desk.reply(loop.reply("照会#1 取り下げ", message="m2"))
    await loop.desk.drain()
    assert loop.book.kept == {}


async def test_without_a_destination_no_offer_is_made(db: Database) -> None:
    plain = manifest()
    assert plain.tenants[0].inquiries is not None
    loop = build_loop(db, manifest=plain.model_copy(update={
        "tenants": [plain.tenants[0].model_copy(update={"inquiries": None})]
    }))
    await loop.ask()
    [answer] = loop.asker.channel.texts(ASK_CHANNEL)
    assert "[照会する:" not in answer


async def test_an_abstention_lists_answers_to_similar_inquiries_before_one_is_sent(db: Database) -> None:
    found = Similar(doc_id="city-qa/inquiry-7", article="照会7", label="照会回答 2026-11-02 法務担当 照会7",
                    url="https://toy.example/slack/C0HOUMU/7", question="職員の名札に旧姓を使えますか",
                    answer="差し支えありません。")
    asked: list[tuple[str, list[str]]] = []

    def similar(question: str, collections: Sequence[str]) -> list[Similar]:
        asked.append((question, list(collections)))
        return [found]

    loop = build_loop(db, manifest=manifest())
    loop.desk.similar = similar
    await loop.ask()
    [answer] = loop.asker.channel.texts(ASK_CHANNEL)
    assert asked == [(QUESTION, ["city-qa"])]
    assert wording.INQUIRY_SIMILAR in answer
    assert "・照会回答 2026-11-02 法務担当 照会7「職員の名札に旧姓を使えますか」[1]" in answer
    offer = await loop.desk.draft("audit-1")
    assert offer is not None and offer.sources == (Source(found.label, found.url),)
    await loop.desk.confirm("audit-1", user=ASKER)
    await loop.desk.drain()
    [posted] = loop.asker.channel.texts(DEST)
    assert f"・{found.label} {found.url}" in posted  # the responder sees it too
