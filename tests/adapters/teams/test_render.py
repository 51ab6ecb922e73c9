"""Pure conversions: Teams activity JSON ⇄ kairan models (no SDK, no network)."""

from __future__ import annotations

import pytest

from adapters.teams import render
from adapters.teams.routing import resolve_scope
from bot.models import Answer, Citation, ConversationRef, Digest, DigestItem, Usage
from manifest.schema import Manifest
from manifest.scope import Scope
from tests.adapters.teams.conftest import (
    AAD_TENANT,
    BOT_ACCOUNT,
    CHANNEL,
    GROUP_CHAT,
    TEAM,
    payload,
    teams_manifest,
)

LONG_QUOTE = (
    "行政財産のうち庁舎その他の建物及びその附帯施設並びにこれらの敷地（以下この号において「庁舎等」という。）"
    "についてその床面積又は敷地に余裕がある場合として政令で定める場合において、当該普通地方公共団体以外の者"
    "（当該庁舎等を管理する普通地方公共団体が当該庁舎等の適正な方法による管理を行う上で適当と認める者に限る。）"
    "に当該余裕がある部分を貸し付けるとき"
)


def citation(n: int, article: str, title: str, quote: str = "", verified: bool = True) -> Citation:
    return Citation(
        n=n,
        doc_id="322AC0000000067",
        article=article,
        title=title,
        url=f"https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_{article}",
        quote=quote,
        verified=verified,
    )


LLM = Usage(provider="anthropic", model="claude-sonnet-4-5")


# --- inbound -----------------------------------------------------------------------------------


def test_channel_mention_becomes_a_question_in_the_posts_thread() -> None:
    message = render.incoming_message(payload("channel_mention"), tenant="yokosuka")

    assert message.text == "行政財産である庁舎の空きスペースを民間のカフェに貸すことはできますか？"
    assert message.ref == ConversationRef(
        "teams", "yokosuka", CHANNEL, thread="1748824267482", message="1748824267482"
    )
    assert message.user == "5c8e2a61-7b3f-4d90-a1e4-2f6b9c0d8e73"  # the Entra object id
    assert message.mentions == ()
    assert message.raw["id"] == "1748824267482"


def test_a_reply_in_a_channel_thread_keeps_the_root_as_thread() -> None:
    body = payload("channel_mention")
    body["id"] = "1748824300000"
    body["replyToId"] = "1748824267482"  # conversation id still names the root
    message = render.incoming_message(body, tenant="yokosuka")
    assert (message.ref.thread, message.ref.message) == ("1748824267482", "1748824300000")

    body["conversation"]["id"] = CHANNEL  # some clients omit the suffix: replyToId is the root
    assert render.thread_root(body) == "1748824267482"


def test_personal_and_group_chats_are_one_thread_each() -> None:
    personal = render.incoming_message(payload("personal_message"), tenant="yokosuka")
    assert personal.text == "職員が副業をするには許可が必要ですか"
    assert personal.ref.thread == personal.ref.channel and personal.ref.channel.startswith("a:1h0Kx9")

    group = render.incoming_message(payload("group_chat"), tenant="yokosuka")
    assert group.text == "公有財産の管理について、長の総合調整権の規定はどこ？"
    assert (group.ref.channel, group.ref.thread) == (GROUP_CHAT, GROUP_CHAT)
    assert render.conversation_type(payload("group_chat")) == "groupChat"


def test_mention_removal_keeps_other_mentions_and_unescapes_html() -> None:
    body = payload("group_chat")
    body["text"] = "<at>kairan</at>&nbsp;<at>佐藤</at> さんの件、<b>地方自治法</b>第238条の4は？<br>急ぎです"
    body["entities"].append(
        {"type": "mention", "text": "<at>佐藤</at>", "mentioned": {"id": "29:sato", "name": "佐藤"}}
    )
    message = render.incoming_message(body, tenant="t")
    assert message.text == "佐藤 さんの件、地方自治法第238条の4は？\n急ぎです"
    assert message.mentions == ("29:sato",)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"type": "typing"}, "expected a Teams message activity, got type 'typing'"),
        ({"conversation": {"conversationType": "channel"}}, "message activity has no conversation.id"),
        ({"from": {"name": "x"}}, "message activity has no from.id"),
    ],
)
def test_malformed_messages_name_the_missing_field(change: dict[str, object], error: str) -> None:
    body = {**payload("channel_mention"), **change}
    with pytest.raises(render.TeamsPayloadError, match=error):
        render.incoming_message(body, tenant="t")


def test_feedback_invoke_is_parsed_and_other_invokes_are_not() -> None:
    vote = render.feedback_vote(payload("feedback_invoke"))
    assert vote == render.FeedbackVote(
        message_id="1748824269001",
        user="5c8e2a61-7b3f-4d90-a1e4-2f6b9c0d8e73",
        value="not_helpful",
        comment="第二百三十八条の四第二項も示してほしい",
    )
    like = payload("feedback_invoke")
    like["value"]["actionValue"] = {"reaction": "like", "feedback": ""}
    assert render.feedback_vote(like) == render.FeedbackVote("1748824269001", vote.user, "helpful", None)
    other = payload("feedback_invoke")
    other["value"]["actionName"] = "something_else"
    assert render.feedback_vote(other) is None
    bad = payload("feedback_invoke")
    bad["value"]["actionValue"]["reaction"] = "love"
    with pytest.raises(render.TeamsPayloadError, match="reaction 'love'"):
        render.feedback_vote(bad)


# --- outbound ----------------------------------------------------------------------------------


def test_answer_activity_renumbers_citations_and_labels_llm_text() -> None:
    answer = Answer(
        text="原則として貸し付けることはできません[2]。ただし余裕がある部分は貸し付けられます[5]。[9]",
        citations=(
            citation(5, "238_4", "地方自治法 第二百三十八条の四", LONG_QUOTE),
            citation(2, "238", "地方自治法 第二百三十八条", "公有財産とは", verified=False),
        ),
        abstained=False,
        warnings=("出典[9]は存在しないため削除しました",),
        usage=LLM,
        audit_id="7d4f3c2a-1b0e-4d9c-8a7b-6c5d4e3f2a1b",
    )
    activity = render.answer_activity(answer)

    assert activity["text"] == (
        "原則として貸し付けることはできません[1]。ただし余裕がある部分は貸し付けられます[2]。[9]\n\n"
        "⚠ 出典[9]は存在しないため削除しました"
    )
    [entity] = activity["entities"]
    assert entity["additionalType"] == ["AIGeneratedContent"]
    first, second = entity["citation"]
    assert first == {
        "@type": "Claim",
        "position": 1,
        "appearance": {
            "@type": "DigitalDocument",
            "name": "地方自治法 第二百三十八条",
            "abstract": "「公有財産とは」",
            "url": "https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238",
            "keywords": ["引用未確認"],
        },
    }
    assert second["position"] == 2 and second["appearance"]["keywords"] == ["引用を確認済み"]
    abstract = second["appearance"]["abstract"]
    assert len(abstract) == 160 and abstract.startswith("「行政財産のうち") and abstract.endswith("…")
    assert activity["channelData"]["feedbackLoopEnabled"] is True


def test_extractive_and_abstaining_answers_carry_no_ai_label() -> None:
    extractive = Answer(
        text="検索結果です[1]",
        citations=(citation(1, "238_4", "地方自治法 第二百三十八条の四"),),
        abstained=False,
        extractive=True,
        usage=Usage("none", "extractive"),
    )
    entity = render.answer_activity(extractive)["entities"][0]
    assert "additionalType" not in entity and len(entity["citation"]) == 1
    assert entity["citation"][0]["appearance"]["abstract"] == "地方自治法 第二百三十八条の四"  # no quote
    assert "channelData" not in render.answer_activity(extractive)  # no audit id: nothing to rate

    abstained = Answer(
        text="根拠となる資料が見つかりませんでした。",
        citations=(),
        abstained=True,
        inquiry_draft="件名：ふるさと納税の返礼品について\n本文",
        usage=LLM,
    )
    activity = render.answer_activity(abstained)
    assert "entities" not in activity  # an empty message entity would be rejected by Teams
    assert activity["text"] == (
        "根拠となる資料が見つかりませんでした。\n\n照会文案:\n\n件名：ふるさと納税の返礼品について\n\n本文"
    )


def test_digest_activity_cites_each_item() -> None:
    digest = Digest(
        "soumu",
        (
            DigestItem("通知A", "https://www.soumu.go.jp/a.pdf", "要旨A", "2025-06-02", "総務省"),
            DigestItem("通知B", "https://www.mhlw.go.jp/b.html", "", "2025-06-01", "厚生労働省"),
        ),
    )
    activity = render.digest_activity(digest)
    assert activity["text"] == (
        "新着の通知（2件）\n\n1. 通知A（総務省、2025-06-02）[1]\n\n要旨A\n\n"
        "2. 通知B（厚生労働省、2025-06-01）[2]"
    )
    claims = activity["entities"][0]["citation"]
    assert [(c["position"], c["appearance"]["url"]) for c in claims] == [
        (1, "https://www.soumu.go.jp/a.pdf"),
        (2, "https://www.mhlw.go.jp/b.html"),
    ]
    assert "keywords" not in claims[0]["appearance"]
    assert render.digest_activity(Digest("soumu", ()))["text"] == "新着の通知はありません。"


def test_more_than_ten_sources_keep_ten_claims_and_list_the_others_under_the_answer() -> None:
    # The Agents Playground refuses a message with more than 10 citations (Teams itself, 20).
    sources = [citation(n, f"{230 + n}", f"地方自治法 第{230 + n}条", f"引用{n}") for n in range(1, 13)]
    sources[11] = citation(12, "242", "地方自治法 第242条", "引用12", verified=False)
    answer = Answer(
        text="".join(f"規定{n}があります[{n}]。" for n in range(1, 13)),
        citations=tuple(sources),
        abstained=False,
        usage=LLM,
    )
    activity = render.answer_activity(answer)

    claims = activity["entities"][0]["citation"]
    assert [c["position"] for c in claims] == list(range(1, 11)) == list(range(1, render.MAX_CITATIONS + 1))
    assert [c["appearance"]["name"] for c in claims][-1] == "地方自治法 第240条"
    text = activity["text"]
    assert text.startswith("規定1があります[1]。") and "規定12があります[12]。" in text  # every marker kept
    assert text.endswith(
        "出典（続き）\n\n"
        "[11] 地方自治法 第241条 https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_241\n\n"
        "[12] 地方自治法 第242条（引用未確認） https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_242"
    )


def test_a_digest_of_more_than_ten_items_shows_every_item_and_cites_ten() -> None:
    items = tuple(
        DigestItem(f"通知{n}", f"https://www.soumu.go.jp/{n}.pdf", "", "2025-06-02", "総務省")
        for n in range(1, 13)
    )
    activity = render.digest_activity(Digest("soumu", items))

    lines = activity["text"].split("\n\n")
    assert lines[0] == "新着の通知（12件）" and len(lines) == 13
    assert lines[10] == "10. 通知10（総務省、2025-06-02）[10]"
    assert lines[11:] == [
        "11. 通知11（総務省、2025-06-02） https://www.soumu.go.jp/11.pdf",
        "12. 通知12（総務省、2025-06-02） https://www.soumu.go.jp/12.pdf",
    ]
    claims = activity["entities"][0]["citation"]
    assert [c["position"] for c in claims] == list(range(1, 11))


# --- routing -----------------------------------------------------------------------------------


def test_scope_by_channel_team_entra_tenant_or_the_only_tenant() -> None:
    manifest = teams_manifest()
    assert resolve_scope(manifest, payload("channel_mention")) == Scope("yokosuka", ("laws",))
    assert resolve_scope(manifest, payload("personal_message")) == Scope(
        "yokosuka", ("laws",)
    )  # Entra tenant
    stranger = payload("group_chat")
    other_directory = "0f0e0d0c-aaaa-4bbb-8ccc-000000000001"
    stranger["conversation"]["tenantId"] = stranger["channelData"]["tenant"]["id"] = other_directory
    assert resolve_scope(manifest, stranger) is None  # two municipalities: no guessing
    teams: dict[str, dict[str, object]] = {"teams": {}}
    by_team = Manifest.model_validate(
        {
            "platforms": teams,
            "tenants": [
                {"id": "a", "name": "A市", "channels": [{"platform": "teams", "id": TEAM}]},
                {"id": "b", "name": "B市"},
            ],
        }
    )
    assert resolve_scope(by_team, payload("channel_mention")) == Scope("a", ("laws",))
    single = Manifest.model_validate({"platforms": teams, "tenants": [{"id": "only", "name": "C町"}]})
    assert resolve_scope(single, stranger) == Scope("only", ("laws",))
    assert resolve_scope(Manifest(), stranger) == Scope("local", None)
    # A single-tenant Entra app refuses other directories whatever the manifest says.
    assert resolve_scope(single, stranger, allowed_aad_tenant=AAD_TENANT) is None
    assert resolve_scope(single, payload("group_chat"), allowed_aad_tenant=AAD_TENANT) == Scope(
        "only", ("laws",)
    )


def test_fixture_recipient_is_the_bot() -> None:
    for name in ("channel_mention", "personal_message", "group_chat", "members_added", "feedback_invoke"):
        assert payload(name)["recipient"]["id"] == BOT_ACCOUNT
