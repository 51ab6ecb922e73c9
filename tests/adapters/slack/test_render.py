"""Answer / Digest → Block Kit (pure)."""

from __future__ import annotations

import pytest

from adapters.slack.render import (
    ABSTAINED_LEAD,
    BLOCK_LIMIT,
    FEEDBACK_BLOCK_ID,
    FEEDBACK_HELPFUL,
    FEEDBACK_NOT_HELPFUL,
    SECTION_LIMIT,
    TRUNCATED_NOTE,
    answer_messages,
    apology_message,
    citation_line,
    digest_messages,
    escape,
    link,
    split_text,
    to_mrkdwn,
)
from bot import wording
from bot.models import Answer, Citation, Digest, DigestItem

URL_238_4 = "https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4"


def citation(n: int, verified: bool = True) -> Citation:
    return Citation(n, "322AC0000000067", "238_4", "地方自治法 第二百三十八条の四", URL_238_4, "", verified)


def answer(text: str, **kw: object) -> Answer:
    defaults: dict[str, object] = {"citations": (citation(1),), "abstained": False, "audit_id": "a-1"}
    return Answer(text=text, **(defaults | kw))  # type: ignore[arg-type]


def section_texts(blocks: list[dict[str, object]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]  # type: ignore[index]


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
    assert message.text == "**原則** 貸付けは不可 <例外あり> & 許可[1]"


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


def test_messages_stay_under_fifty_blocks_and_keep_sources_and_buttons() -> None:
    text = "\n\n".join("う" * 2999 for _ in range(80))
    [message] = answer_messages(answer(text))
    assert len(message.blocks) == BLOCK_LIMIT
    assert message.blocks[-1]["type"] == "actions"
    assert section_texts(message.blocks)[-1].startswith("*出典*")
    assert {"type": "context", "elements": [{"type": "mrkdwn", "text": TRUNCATED_NOTE}]} in message.blocks


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
