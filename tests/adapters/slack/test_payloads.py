"""Slack payload → IncomingMessage (pure); channel → tenant is tests/manifest/test_scope.py."""

from __future__ import annotations

import pytest

from adapters.slack.payloads import (
    PayloadError,
    clean_text,
    feedback_click,
    incoming_message,
    is_from_bot,
    is_user_dm,
)
from adapters.slack.render import FEEDBACK_ACTIONS
from bot.models import ConversationRef
from tests.adapters.slack.conftest import load_fixture


def test_app_mention_becomes_an_incoming_message() -> None:
    event = load_fixture("payload_app_mention.json")["event"]
    message = incoming_message(event, tenant="testcity", bot_user_id="U0KAIRANBOT")
    ts = "1715000000.000100"
    assert message.ref == ConversationRef("slack", "testcity", "C0SOUMU001", ts, ts)
    assert message.text == "行政手続法第五条の審査基準について教えて"
    assert message.user == "U0STAFF001"
    assert message.mentions == ()
    assert message.raw["event_ts"] == "1715000000.000100"


def test_thread_follow_up_keeps_the_root_as_thread() -> None:
    event = load_fixture("payload_thread_followup.json")["event"]
    ref = incoming_message(event, tenant="t", bot_user_id="U0KAIRANBOT").ref
    assert (ref.thread, ref.message) == ("1715000000.000100", "1715000300.000200")


def test_mentions_links_and_entities_are_cleaned() -> None:
    text = ("<@U0KAIRANBOT|kairan> <@U0OTHER> さんの件 &amp; "
            "<https://www.soumu.go.jp/x|総務省通知> &lt;至急&gt; <!here>")
    assert clean_text(text, "U0KAIRANBOT") == ("さんの件 & 総務省通知 <至急>", ("U0OTHER",))
    # Without the bot's id, only a leading mention is taken as addressing the bot.
    assert clean_text("<@U0BOT> 質問 <@U0OTHER>", None) == ("質問", ("U0OTHER",))


@pytest.mark.parametrize(("markup", "plain"), [
    ("<#C0SOUMU001|soumu-houki> で聞いた件", "#soumu-houki で聞いた件"),
    ("<#C0SOUMU001|> で聞いた件", "で聞いた件"),  # newer clients leave the name out
    ("<#C0SOUMU001> で聞いた件", "で聞いた件"),
    ("<!subteam^S0HOUMU01|@houmu> に確認済み", "@houmu に確認済み"),
    ("<!subteam^S0HOUMU01> に確認済み", "に確認済み"),
    ("<!date^1715000000^{date_short}|2024年5月6日> 施行", "2024年5月6日 施行"),
    ("<tel:0312345678|03-1234-5678> の担当", "03-1234-5678 の担当"),
    ("<https://www.soumu.go.jp/a?b=1&amp;c=2> の通知", "https://www.soumu.go.jp/a?b=1&c=2 の通知"),
    ("<!channel> <!here|here> 至急", "至急"),
    ("<@U0OTHER|tanaka> さんの件", "さんの件"),
])
def test_channel_group_date_and_link_markup_become_plain_text(markup: str, plain: str) -> None:
    """Issue 18: <#C…|name> was left in the question the engine searched with."""
    text, _ = clean_text(f"<@U0KAIRANBOT> {markup}", "U0KAIRANBOT")
    assert text == plain
    assert "<" not in text and ">" not in text


def test_events_without_required_fields_are_rejected_by_name() -> None:
    event = load_fixture("payload_app_mention.json")["event"]
    del event["user"]
    with pytest.raises(PayloadError, match="'user'"):
        incoming_message(event, tenant="t", bot_user_id=None)


def test_only_messages_people_type_in_dms_count() -> None:
    dm = load_fixture("payload_message_im.json")["event"]
    assert is_user_dm(dm)
    assert not is_user_dm(load_fixture("payload_message_im_bot.json")["event"])
    assert not is_user_dm(dm | {"subtype": "message_changed"})
    assert not is_user_dm(dm | {"channel_type": "channel"})
    assert not is_user_dm(dm | {"bot_id": "B0X"})


def test_feedback_click_parsing() -> None:
    body = load_fixture("payload_block_actions.json")
    click = feedback_click(body, body["actions"][0] | {"value": "aud-1"}, FEEDBACK_ACTIONS)
    assert (click.audit_id, click.value, click.user, click.channel, click.thread) == (
        "aud-1", "helpful", "U0STAFF001", "C0SOUMU001", "1715000000.000100"
    )
    with pytest.raises(PayloadError, match="not a feedback button"):
        feedback_click(body, {"action_id": "other", "value": "x"}, FEEDBACK_ACTIONS)
    with pytest.raises(PayloadError, match="audit id"):
        feedback_click(body, {"action_id": "kairan_feedback_helpful", "value": ""}, FEEDBACK_ACTIONS)


def test_bot_posts_are_told_from_people() -> None:
    person = load_fixture("payload_app_mention.json")["event"]
    bot = load_fixture("payload_app_mention_bot.json")["event"]
    assert not is_from_bot(person, "U0KAIRANBOT")
    assert is_from_bot(bot, "U0KAIRANBOT")
    assert is_from_bot({k: v for k, v in bot.items() if k != "bot_id"}, "U0KAIRANBOT")  # bot_profile alone
    assert is_from_bot({"type": "app_mention", "subtype": "bot_message", "text": "x"}, None)
    assert is_from_bot(person | {"user": "U0KAIRANBOT"}, "U0KAIRANBOT")  # kairan itself
    assert not is_from_bot(person | {"user": "U0KAIRANBOT"}, None)  # unknown bot user: a person's post
