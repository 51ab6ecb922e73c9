from __future__ import annotations

import pytest

from adapters.logo.render import (
    Mention,
    PayloadError,
    answer_text,
    digest_text,
    is_addressed,
    mention_markup,
    parse_mentions,
    parse_message,
    reply_chunks,
    split_text,
    strip_mentions,
    text_length,
    to_incoming,
)
from bot import wording
from bot.answer_text import FALLBACK_NOTICE, READ_BY_LLM_NOTICE
from bot.models import Answer, Citation, Digest, DigestItem
from bot.wording import APOLOGY

URL = "https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4"


def _citation(n: int, title: str, url: str) -> Citation:
    return Citation(n=n, doc_id="322AC0000000067", article="238_4", title=title, url=url, quote="",
                    verified=True)


def test_mention_markup_counts_code_points_of_name_plus_one() -> None:
    assert mention_markup(501, "山田 太郎") == "{@:501,6}@山田 太郎"
    assert mention_markup("ALL", "ALL") == "{@:ALL,4}@ALL"
    assert mention_markup(7, "😀花") == "{@:7,3}@😀花"  # one code point, two UTF-16 units


def test_parse_mentions_reads_the_counted_label() -> None:
    text = "{@:9001,4}@回覧板 行政財産の{@:502,6}@佐藤 花子 さんにも {@:ALL,4}@ALL"
    assert parse_mentions(text) == [
        Mention("9001", "回覧板", 0, 14),
        Mention("502", "佐藤 花子", 20, 35),
        Mention("ALL", "ALL", 41, 54),
    ]
    assert strip_mentions(text, parse_mentions(text), drop={"9001"}) == "行政財産の@佐藤 花子 さんにも @ALL"


def test_parse_mentions_with_a_count_overrunning_the_text_keeps_only_the_braces() -> None:
    text = "{@:9001,40}@回覧板"
    assert parse_mentions(text) == [Mention("9001", "", 0, 11)]
    assert strip_mentions(text, parse_mentions(text), drop={"9001"}) == "@回覧板"


def test_parse_message_reads_a_text_payload() -> None:
    payload = {"message_id": 11, "talk_id": 200, "user_id": 501, "type": 1,
               "content": "質問".encode(), "created_at": 1700000000000}
    message = parse_message(payload)
    assert (message.message_id, message.talk_id, message.user_id, message.type) == (11, 200, 501, 1)
    assert message.text == "質問"
    assert message.created_at == 1700000000000
    assert message.bot_message is False
    stamp = parse_message({"message_id": 12, "talk_id": 200, "user_id": 501, "type": 2,
                           "content": {"stamp_set": 3, "stamp_index": 1}, "bot_message": True})
    assert stamp.text is None and stamp.bot_message is True


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"talk_id": 1, "user_id": 2, "type": 1, "content": "x"},
         "notify_create_message: field 'message_id' must be an integer, got None"),
        ({"message_id": 1, "talk_id": "1", "user_id": 2, "type": 1, "content": "x"},
         "notify_create_message: field 'talk_id' must be an integer, got '1'"),
        ({"message_id": 1, "talk_id": 1, "user_id": 2, "type": 1, "content": None},
         "notify_create_message: text message content must be a string, got None"),
        (["not", "a", "map"], "notify_create_message: payload must be a map, got list"),
    ],
)
def test_parse_message_rejects_garbage_naming_the_field(payload: object, message: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse_message(payload)
    assert str(info.value) == message


def test_to_incoming_removes_the_bot_mention_and_lists_mentions() -> None:
    payload = {"message_id": 1234, "talk_id": 200, "user_id": 501, "type": 1,
               "content": "{@:9001,4}@回覧板 行政財産の目的外使用は？"}
    incoming = to_incoming(parse_message(payload), tenant="yokosuka", bot_user_id=9001, raw=payload)
    assert incoming.text == "行政財産の目的外使用は？"
    assert incoming.mentions == ("9001",)
    assert incoming.user == "501"
    assert (incoming.ref.platform, incoming.ref.tenant, incoming.ref.channel) == ("logo", "yokosuka", "200")
    assert (incoming.ref.thread, incoming.ref.message) == (None, "1234")
    assert incoming.raw == payload
    assert is_addressed(incoming, bot_user_id=9001, pair_talk=False)
    assert not is_addressed(incoming, bot_user_id=9002, pair_talk=False)
    plain = to_incoming(parse_message(payload | {"content": "こんにちは"}), tenant="t", bot_user_id=9001)
    assert not is_addressed(plain, bot_user_id=9001, pair_talk=False)
    assert is_addressed(plain, bot_user_id=9001, pair_talk=True)


@pytest.mark.parametrize(
    ("content", "mention", "addressed"),
    [
        ("回覧板さん、行政財産の目的外使用は？", True, True),  # the server says so: no markup needed
        ("{@:9001,4}@回覧板 行政財産の目的外使用は？", False, False),  # the server says not
        ("{@:9001,4}@回覧板 行政財産の目的外使用は？", True, True),
        ("{@:ALL,4}@ALL 明日は停電です", True, False),  # everyone: an announcement, not a question
        ("{@:ALL,4}@ALL {@:9001,4}@回覧板 停電の扱いは？", True, True),
        ("{@:9001,4}@回覧板 行政財産の目的外使用は？", None, True),  # no flag: the markup decides
        ("行政財産の目的外使用は？", None, False),
    ],
    ids=["flag-no-markup", "markup-no-flag", "both", "all-only", "all-and-bot", "markup-only", "neither"],
)
def test_the_servers_mention_flag_decides_in_group_talks(
    content: str, mention: bool | None, addressed: bool
) -> None:
    """direct-js hands the server's ``mention`` flag to a bot as ``mention.me``; kairan follows it."""
    payload: dict[str, object] = {
        "message_id": 1234, "talk_id": 200, "user_id": 501, "type": 1, "content": content,
    }
    if mention is not None:
        payload["mention"] = mention
    incoming = to_incoming(parse_message(payload), tenant="yokosuka", bot_user_id=9001, raw=payload)
    assert is_addressed(incoming, bot_user_id=9001, pair_talk=False) is addressed
    assert is_addressed(incoming, bot_user_id=9001, pair_talk=True)  # every 1:1 message is for the bot


def test_answer_text_lists_numbered_sources_as_plain_lines() -> None:
    answer = Answer(
        text="行政財産は、その用途又は目的を妨げない限度においてその使用を許可することができます。[1][2]",
        citations=(_citation(2, "地方自治法 第二百二十五条", "https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_225"),
                   _citation(1, "地方自治法 第二百三十八条の四", URL)),
        abstained=False,
    )
    assert answer_text(answer) == (
        "行政財産は、その用途又は目的を妨げない限度においてその使用を許可することができます。[1][2]\n\n"
        "【出典】\n"
        f"［1］地方自治法 第二百三十八条の四 {URL}\n"
        "［2］地方自治法 第二百二十五条 https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_225"
    )


def test_answer_text_ends_with_the_warnings_not_already_in_the_text() -> None:
    answer = Answer(
        text=f"{FALLBACK_NOTICE}\n\n行政財産は貸し付けることができます。[1]",
        citations=(_citation(1, "地方自治法 第二百三十八条の四", URL),),
        abstained=False,
        warnings=(FALLBACK_NOTICE, READ_BY_LLM_NOTICE, wording.INTERNAL_ANSWER_NOTE),
    )
    assert answer_text(answer) == (
        f"{FALLBACK_NOTICE}\n\n行政財産は貸し付けることができます。[1]\n\n"
        f"【出典】\n［1］地方自治法 第二百三十八条の四 {URL}\n\n"
        f"※ {READ_BY_LLM_NOTICE}\n※ {wording.INTERNAL_ANSWER_NOTE}"
    )


def test_abstention_carries_the_inquiry_draft() -> None:
    answer = Answer(text="根拠となる資料が見つかりませんでした。", citations=(), abstained=True,
                    inquiry_draft="件名：〇〇について（照会）")
    assert answer_text(answer) == (
        "根拠となる資料が見つかりませんでした。\n\n【照会文案】\n件名：〇〇について（照会）"
    )


def test_digest_text() -> None:
    item = DigestItem(title="地方自治法施行令の一部改正", url="https://www.soumu.go.jp/a.html",
                      summary="施行日は令和7年4月1日。", published="2025-03-01", source="総務省")
    assert digest_text(Digest(subscription="s", items=(item,))) == (
        "【新着情報】1件\n\n■ 地方自治法施行令の一部改正\n2025-03-01（総務省）\n施行日は令和7年4月1日。\n"
        "https://www.soumu.go.jp/a.html"
    )
    assert digest_text(Digest(subscription="s", items=())) == "【新着情報】新しいお知らせはありません。"


def test_split_text_cuts_at_line_ends_within_the_limit_in_order() -> None:
    lines = [f"{i:02d}行目：" + "あ" * 30 for i in range(40)]
    text = "\n".join(lines)
    chunks = split_text(text, 200)
    assert all(text_length(c) <= 200 for c in chunks)
    assert "\n".join(chunks) == text  # nothing lost, nothing reordered
    assert len(chunks) == 8  # 5 lines of 35 chars (+4 newlines) = 179 per chunk
    assert chunks[1].startswith("05行目：")


def test_split_text_hard_splits_a_long_line_counting_utf16_units() -> None:
    chunks = split_text("😀" * 7, 4)  # each emoji is 2 UTF-16 units
    assert chunks == ["😀😀", "😀😀", "😀😀", "😀"]
    assert split_text("a" * 10, 3) == ["aaa", "aaa", "aaa", "a"]
    with pytest.raises(ValueError, match="limit must be at least 1, got 0"):
        split_text("x", 0)


def test_reply_chunks_open_with_the_mention() -> None:
    chunks = reply_chunks(APOLOGY, limit=1024, mention=mention_markup(501, "山田 太郎"))
    assert chunks == ["{@:501,6}@山田 太郎\n" + APOLOGY]
    long = reply_chunks("\n".join(["い" * 50] * 10), limit=120, mention="{@:501,6}@山田 太郎")
    assert long[0].startswith("{@:501,6}@山田 太郎\n")
    assert all(text_length(c) <= 120 for c in long)

