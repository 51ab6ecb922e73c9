"""Answer / Digest → Block Kit (pure)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from adapters.slack.render import (
    ABSTAINED_LEAD,
    BLOCK_LIMIT,
    FEEDBACK_BLOCK_ID,
    FEEDBACK_HELPFUL,
    FEEDBACK_NOT_HELPFUL,
    INQUIRY_LEAD,
    MAX_ANSWER_MESSAGES,
    MESSAGE_LIMIT,
    PART_NOTE,
    SECTION_LIMIT,
    SOURCES_HEADING,
    TRUNCATED_NOTE,
    answer_messages,
    apology_message,
    citation_line,
    digest_messages,
    escape,
    link,
    notice_message,
    plain_fallback,
    split_text,
    to_mrkdwn,
)
from bot import wording
from bot.models import Answer, Citation, Digest, DigestItem
from tests.fakes.slack_api import MAX_BLOCK_TEXT, block_kit_problems, block_text_length

URL_238_4 = "https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4"


def citation(n: int, verified: bool = True) -> Citation:
    return Citation(n, "322AC0000000067", "238_4", "地方自治法 第二百三十八条の四", URL_238_4, "", verified)


def answer(text: str, **kw: object) -> Answer:
    defaults: dict[str, object] = {"citations": (citation(1),), "abstained": False, "audit_id": "a-1"}
    return Answer(text=text, **(defaults | kw))  # type: ignore[arg-type]


def section_texts(blocks: list[dict[str, object]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]  # type: ignore[index]


def mrkdwn_texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every mrkdwn text of ``blocks`` (sections and context elements): what Slack parses for markup."""
    found = [b["text"]["text"] for b in blocks if b["type"] == "section" and b["text"]["type"] == "mrkdwn"]
    for block in blocks:
        found += [e["text"] for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    return found


def assert_slack_takes(message: Any) -> None:
    """slack_sdk's own Block Kit models accept the blocks, and they fit in one Slack message."""
    assert block_kit_problems(message.blocks) == []
    assert block_text_length(message.blocks) <= MAX_BLOCK_TEXT


BROKEN_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")  # an & that does not start one of Slack's three entities


def test_sources_are_numbered_links_with_verified_marks() -> None:
    label = "地方自治法 第二百三十八条の四"
    assert citation_line(citation(1)) == f"[1] <{URL_238_4}|{label}> ✅"
    assert citation_line(citation(2, verified=False)) == f"[2] <{URL_238_4}|{label}> ⚠️ 未確認"
    cited = (citation(2, False), citation(1))
    [message] = answer_messages(answer("行政財産は貸し付けることができない[1]。", citations=cited))
    sources = section_texts(message.blocks)[-1].splitlines()
    assert sources[0] == "*出典*"
    assert sources[1].startswith("[1] ") and sources[2].startswith("[2] ")  # in citation order


def test_answer_text_keeps_markers_and_is_escaped() -> None:
    [message] = answer_messages(answer("**原則** 貸付けは不可 <例外あり> & 許可[1]"))
    assert section_texts(message.blocks)[0] == "*原則* 貸付けは不可 &lt;例外あり&gt; &amp; 許可[1]"


def test_link_labels_cannot_break_out_of_the_link() -> None:
    assert link("https://x.example/a b|c", "A|B <c>") == "<https://x.example/a%20b%7Cc|A｜B &lt;c&gt;>"


def test_feedback_buttons_carry_the_audit_id() -> None:
    [message] = answer_messages(answer("本文[1]", audit_id="3f2a-uuid"))
    actions = message.blocks[-1]
    assert actions["type"] == "actions" and actions["block_id"] == FEEDBACK_BLOCK_ID
    assert [(e["action_id"], e["value"], e["text"]["text"]) for e in actions["elements"]] == [
        (FEEDBACK_HELPFUL, "3f2a-uuid", "役に立った"),
        (FEEDBACK_NOT_HELPFUL, "3f2a-uuid", "役に立たなかった"),
    ]


def test_no_feedback_buttons_without_an_audit_record() -> None:
    [message] = answer_messages(answer("本文[1]", audit_id=None))
    assert all(b["type"] != "actions" for b in message.blocks)


def test_warnings_become_a_context_block() -> None:
    [message] = answer_messages(answer("本文[1]", warnings=("第九十九条は資料にありません",)))
    context = [b for b in message.blocks if b["type"] == "context"]
    element = {"type": "mrkdwn", "text": "⚠️ 第九十九条は資料にありません"}
    assert context == [{"type": "context", "elements": [element]}]


def test_long_answers_split_under_the_section_limit_without_losing_text() -> None:
    paragraphs = [f"第{i}段落。" + "あ" * 900 + f"[{i % 3 + 1}]" for i in range(12)]
    text = "\n\n".join(paragraphs)
    [message] = answer_messages(answer(text))
    body = section_texts(message.blocks)[:-1]
    assert all(len(t) <= SECTION_LIMIT for t in body)
    assert len(body) == 4  # three ~906-character paragraphs per section
    assert "\n\n".join(body) == text


def test_a_single_huge_line_is_cut_into_pieces() -> None:
    pieces = split_text("い" * 7000)
    assert [len(p) for p in pieces] == [3000, 3000, 1000]
    assert "".join(pieces) == "い" * 7000
    with pytest.raises(ValueError, match="limit must be positive"):
        split_text("x", 0)


def paragraphs(count: int) -> str:
    """``count`` paragraphs of about 3,000 characters, each citing one of the sources 1-3."""
    return "\n\n".join(f"第{i}段落[{i % 3 + 1}]。" + "う" * 2985 for i in range(count))


def body_texts(messages: list[Any]) -> list[str]:
    return [t for m in messages for t in section_texts(m.blocks) if not t.startswith(SOURCES_HEADING)]


def listed_sources(message: Any) -> set[int]:
    sources = [t for t in section_texts(message.blocks) if t.startswith(SOURCES_HEADING)]
    return {int(n) for t in sources for n in re.findall(r"^\[(\d+)\] ", t, re.MULTILINE)}


def test_a_long_answer_goes_out_as_several_messages_slack_takes() -> None:
    """Issue 18: up to 47×3,000 characters of blocks went into one message; Slack refuses about
    13,000 (msg_blocks_too_long), and the asker got the apology instead of the answer."""
    text = paragraphs(20)
    uncited = Citation(4, "d4", "1", "本文で引用していない通知", "https://e.example/4", "", True)
    cited = (citation(1), citation(2), citation(3), uncited)
    messages = answer_messages(answer(text, citations=cited, warnings=("第九十九条は資料にありません",)))
    count = len(messages)
    assert 4 < count < MAX_ANSWER_MESSAGES
    assert "\n\n".join(body_texts(messages)) == to_mrkdwn(text)  # in order, nothing lost
    for i, message in enumerate(messages, 1):
        assert_slack_takes(message)
        last = i == count
        own = {int(n) for n in re.findall(r"\[(\d+)\]", "".join(body_texts([message])))}
        assert own and listed_sources(message) == own | ({4} if last else set())  # sources where they belong
        notes = [e["text"] for b in message.blocks if b["type"] == "context" for e in b["elements"]]
        assert PART_NOTE.format(i=i, n=count) in notes
        assert ("⚠️ 第九十九条は資料にありません" in notes) is last
        assert (message.blocks[-1]["type"] == "actions") is last  # one vote per answer
        assert message.text == plain_fallback(body_texts([message])[0])  # each notifies with its own words
    assert messages[0].text.startswith("第0段落[1]。うう")


def test_an_answer_past_the_last_message_is_cut_with_a_note() -> None:
    messages = answer_messages(answer(paragraphs(80)))
    assert len(messages) == MAX_ANSWER_MESSAGES
    for message in messages:
        assert_slack_takes(message)
    last = messages[-1]
    assert {"type": "context", "elements": [{"type": "mrkdwn", "text": TRUNCATED_NOTE}]} in last.blocks
    assert listed_sources(last) and last.blocks[-1]["type"] == "actions"
    shown = "\n\n".join(body_texts(messages))
    assert to_mrkdwn(paragraphs(80)).startswith(shown) and len(shown) > 9 * MESSAGE_LIMIT * 0.8


def test_a_long_inquiry_draft_goes_out_as_several_messages() -> None:
    draft = "\n\n".join(f"{i}　" + "照会事項の説明。" * 350 for i in range(8))
    abstained = Answer(text="根拠となる資料が見つかりませんでした。", citations=(), abstained=True,
                       inquiry_draft=draft, audit_id="a-9")
    first, *drafts = answer_messages(abstained)
    assert len(drafts) > 1 and all(d.text == "照会文案" for d in drafts)
    assert section_texts(drafts[0].blocks)[0] == INQUIRY_LEAD
    for message in [first, *drafts]:
        assert_slack_takes(message)


def test_abstention_is_clearly_worded_and_the_draft_follows_as_a_second_message() -> None:
    draft = "件名：「行政財産の貸付け」について（照会）\n\n１　照会の趣旨\n　<団体名>において…"
    abstained = Answer(
        text="根拠となる資料が見つかりませんでした。", citations=(), abstained=True,
        inquiry_draft=draft, audit_id="a-9",
    )
    first, second = answer_messages(abstained)
    lead = section_texts(first.blocks)[0]
    assert lead.startswith(ABSTAINED_LEAD) and "照会文案" in lead
    assert not any(t.startswith("*出典*") for t in section_texts(first.blocks))
    assert first.blocks[-1]["type"] == "actions"
    assert second.text == "照会文案"
    assert section_texts(second.blocks)[1] == f"```\n{escape(draft)}\n```"


def test_abstention_without_a_draft_is_one_message() -> None:
    messages = answer_messages(Answer(text="個人番号が含まれています。", citations=(), abstained=True))
    assert len(messages) == 1
    assert "照会文案" not in section_texts(messages[0].blocks)[0]


def test_apology_is_the_fixed_japanese_text() -> None:
    message = apology_message()
    assert message.text == wording.APOLOGY == (
        "申し訳ありません。回答の作成中にエラーが発生しました。時間をおいてもう一度お試しください。"
    )
    assert wording.APOLOGY in section_texts(message.blocks)[0]


def test_digest_lists_items_as_links_with_date_and_source() -> None:
    digest = Digest("soumu", (
        DigestItem("通知A", "https://www.soumu.go.jp/a", "概要A", "2025-04-01", "総務省"),
        DigestItem("通知B <改正>", "https://www.mhlw.go.jp/b", "", "2025-04-02", "厚生労働省"),
    ))
    [message] = digest_messages(digest)
    header_text = {"type": "plain_text", "text": "新着の通知・法令（soumu）"}
    assert message.blocks[0] == {"type": "header", "text": header_text}
    assert section_texts(message.blocks) == ["*<https://www.soumu.go.jp/a|通知A>*\n概要A",
                                              "*<https://www.mhlw.go.jp/b|通知B &lt;改正&gt;>*"]
    assert message.blocks[2]["elements"][0]["text"] == "2025-04-01・総務省"
    assert message.text == "新着の通知・法令（soumu）: 2 件"


def test_large_and_empty_digests() -> None:
    items = tuple(
        DigestItem(f"通知{i}", f"https://e.example/{i}", "", "2025-04-01", "総務省") for i in range(40)
    )
    [big] = digest_messages(Digest("all", items))
    assert len(big.blocks) <= BLOCK_LIMIT
    assert big.blocks[-1]["elements"][0]["text"] == "ほか 16 件"
    [empty] = digest_messages(Digest("all", ()))
    assert section_texts(empty.blocks) == ["新着はありません。"]


def test_to_mrkdwn_converts_markdown_headings() -> None:
    assert to_mrkdwn("## 結論\n本文") == "*結論*\n本文"


# --- escaping (issue 18) ---------------------------------------------------------------------------

HOSTILE = "<!channel> 至急 & <@U0BOSS> と <https://evil.example|ここ> を確認 > 以上"


def hostile_messages() -> list[Any]:
    cited = Citation(1, "d", "1", HOSTILE, "", HOSTILE, True)  # a title without a link
    answered = Answer(text=HOSTILE, citations=(cited,), abstained=False, warnings=(HOSTILE,), audit_id="a-1")
    abstained = Answer(text=HOSTILE, citations=(), abstained=True, inquiry_draft=HOSTILE)
    digest = Digest(HOSTILE, (DigestItem(HOSTILE, "", HOSTILE, HOSTILE, HOSTILE),))
    return [*answer_messages(answered), *answer_messages(abstained), *digest_messages(digest),
            notice_message(HOSTILE), apology_message()]


@pytest.mark.parametrize("index", range(6))
def test_text_from_people_never_becomes_live_markup(index: int) -> None:
    """Issue 18: the fallback ``text`` was not escaped, so a user's <!channel> pinged the channel."""
    message = hostile_messages()[index]
    for text in [message.text, *mrkdwn_texts(message.blocks)]:
        assert "<" not in text and ">" not in text, text  # no mention, broadcast or link survives
        assert not BROKEN_ENTITY.search(text), text
    assert_slack_takes(message)


def test_the_fallback_text_reads_like_the_answer() -> None:
    [message] = answer_messages(answer("**原則** 貸付けは不可 <例外あり> & 許可[1]"))
    assert message.text == "*原則* 貸付けは不可 &lt;例外あり&gt; &amp; 許可[1]"
    long = answer("い" * 200 + "&" * 200)
    assert not BROKEN_ENTITY.search(answer_messages(long)[0].text)


# --- splitting (issue 18) --------------------------------------------------------------------------


@pytest.mark.parametrize("shift", range(6))
def test_a_split_never_cuts_an_entity(shift: int) -> None:
    """Issue 18: a 3,000-character cut could fall inside &amp;, leaving "&am" and "p;" in two blocks."""
    raw = "い" * (SECTION_LIMIT - shift) + "&<>" * 400
    pieces = split_text(escape(raw))
    assert "".join(pieces) == escape(raw)
    assert all(len(p) <= SECTION_LIMIT and not BROKEN_ENTITY.search(p) for p in pieces)
    assert all(re.fullmatch(r"(&(amp|lt|gt);|[^&])*", p) for p in pieces)
    [message] = answer_messages(answer(raw))
    assert all(not BROKEN_ENTITY.search(t) for t in mrkdwn_texts(message.blocks))


@pytest.mark.parametrize("shift", range(8))
def test_a_split_never_cuts_a_link(shift: int) -> None:
    line = "う" * (SECTION_LIMIT - 20 - shift) + link(URL_238_4, "地方自治法 第二百三十八条の四")
    pieces = split_text(line * 2)
    assert "".join(pieces) == line * 2
    assert all(p.count("<") == p.count(">") for p in pieces)


def test_a_long_digest_item_is_shortened_without_breaking_its_link_or_an_entity() -> None:
    item = DigestItem("通知 & 事務連絡", "https://www.soumu.go.jp/a?b=1", "&" * 4000, "2025-04-01", "総務省")
    [message] = digest_messages(Digest("soumu", (item,)))
    [text] = section_texts(message.blocks)
    assert text.startswith("*<https://www.soumu.go.jp/a?b=1|通知 &amp; 事務連絡>*\n&amp;")
    assert text.endswith("&amp;…") and not BROKEN_ENTITY.search(text)
    assert_slack_takes(message)


def test_a_digest_of_long_summaries_still_fits_in_one_message() -> None:
    """A digest is one post (the runner's ledger counts one per digest): 24 items with 3,000-character
    summaries were 72,000 characters, which Slack refuses; the summaries are shortened alike."""
    items = tuple(
        DigestItem(f"通知{i} & 改正", f"https://www.soumu.go.jp/{i}.html", f"要旨{i}。" + "&" * 3000,
                   "2025-04-01", "総務省")
        for i in range(24)
    )
    [message] = digest_messages(Digest("soumu", items))
    assert_slack_takes(message)
    texts = section_texts(message.blocks)
    assert len(texts) == 24
    for i, text in enumerate(texts):
        assert text.startswith(f"*<https://www.soumu.go.jp/{i}.html|通知{i} &amp; 改正>*\n要旨{i}。&amp;")
        assert text.endswith("…") and not BROKEN_ENTITY.search(text)
    assert len({len(t) for t in texts[:10]}) <= 2  # shortened alike
    short = digest_messages(Digest("soumu", items[:2]))[0]
    assert len(section_texts(short.blocks)[0]) > len(texts[0])  # fewer items keep more of each summary


def every_kind_of_message() -> list[Any]:
    """One of each message the renderers make, with the features each may carry."""
    draft = "件名：「行政財産の貸付け」について（照会）\n\n１　照会の趣旨\n　<団体名>において…"
    answers = [
        answer("行政財産は貸し付けることができない[1]。", citations=(citation(1), citation(2, False))),
        answer("本文[1]", warnings=("第九十九条は資料にありません",) * 12, audit_id=None),
        Answer(text="根拠となる資料が見つかりませんでした。", citations=(), abstained=True,
               inquiry_draft=draft, audit_id="a-9"),
        answer(paragraphs(20)),
    ]
    items = tuple(
        DigestItem(f"通知{i}", f"https://e.example/{i}", "概要。", "2025-04-01", "総務省") for i in range(40)
    )
    return [
        *(m for a in answers for m in answer_messages(a)),
        *digest_messages(Digest("all", items)), *digest_messages(Digest("all", ())),
        apology_message(), notice_message(wording.EMPTY_QUESTION), notice_message(wording.NOT_CONFIGURED),
    ]


def test_every_kind_of_message_is_valid_block_kit() -> None:
    messages = every_kind_of_message()
    assert len(messages) > 12
    for message in messages:
        assert message.text and message.blocks
        assert_slack_takes(message)
