from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import msgpack
import pytest

from adapters.logo.client import Id, LogoClient, ProtocolError, RpcError, SessionEnded, pack, unpack
from tests.adapters.logo.conftest import client_for, make_client
from tests.fakes.logo_server import (
    BOT_ID,
    DOMAIN_ID,
    GROUP_TALK,
    PAIR_TALK,
    SATO,
    UNMAPPED_TALK,
    YAMADA,
    LogoFakeServer,
)

HANDSHAKE = [
    "create_session",
    "reset_notification",
    "get_domains",
    "get_talks",
    "get_talk_statuses",
    "get_acquaintances",
    "start_notification",
    "update_last_used_at",
]


async def test_handshake_sequence_and_session_state(server: LogoFakeServer) -> None:
    async with client_for(server) as client:
        assert await client.start(wait=5)
        assert server.methods() == HANDSHAKE
        session = server.attempts("create_session")[0]
        assert session.params == [server.token, "1.122", "bot"]  # what direct-js 2.1.0 sends
        # Strings go out in the old raw format: the 45-byte token is raw16 (0xda), not str8 (0xd9).
        assert b"\xda\x00\x2d" + server.token.encode() in session.frame
        assert b"\xd9" not in session.frame
        assert client.connected()
        assert client.state.me == BOT_ID
        assert client.is_pair_talk(PAIR_TALK) and not client.is_pair_talk(GROUP_TALK)
        assert client.user_name(YAMADA) == "山田 太郎"
        assert client.sessions == 1
    assert not client.connected()


async def test_a_version_the_server_does_not_serve_is_refused(server: LogoFakeServer) -> None:
    """The fake serves the 1.122 shapes only: a client announcing another version does not get in."""
    async with client_for(server, api_version="1.107") as client:
        assert not await client.start(wait=0.5)
        refused = server.attempts("create_session")[0]
        assert refused.params[1] == "1.107" and not refused.ok
        assert client.ended is None  # not one of LoGo's session endings: retried with backoff


async def test_pushed_notifications_are_acked_and_dispatched(server: LogoFakeServer) -> None:
    async with client_for(server) as client:
        seen: list[tuple[str, Any]] = []
        client.add_handler(lambda method, payload: seen.append((method, payload)))
        await client.start(wait=5)
        payload, push_id = await server.push_message(talk_id=GROUP_TALK, user_id=SATO, text="おはよう")
        assert push_id is not None
        await server.wait_for(lambda: push_id in server.acks)
        assert server.acks[push_id] == [1, push_id, None, True]
        assert seen == [("notify_create_message", payload)]
        new_talk = {"talk_id": UNMAPPED_TALK + 1, "domain_id": DOMAIN_ID, "type": 1,
                    "user_ids": [BOT_ID, SATO]}
        talk_push = await server.push("notify_create_pair_talk", new_talk)
        await server.wait_for(lambda: talk_push in server.acks)
        assert client.is_pair_talk(UNMAPPED_TALK + 1)


async def test_a_failing_handshake_is_retried_with_backoff(server: LogoFakeServer) -> None:
    server.fail_next("create_session", code=500, message="internal server error", times=50)
    async with client_for(server, reconnect_initial=0.05, reconnect_max=0.1) as client:
        assert not await client.start(wait=0.5)
        assert not client.connected() and client.ended is None
        attempts = server.attempts("create_session")
        assert len(attempts) >= 3  # 0.05, 0.1, 0.1, … between attempts
        gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
        assert min(gaps) >= 0.04


async def test_an_invalid_token_is_retried_three_times_a_second_apart_then_given_up(
    server: LogoFakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """direct-js retries 401 "invalid token" three times, one second apart (a new token may not
    have reached every server yet), then gives up instead of retrying forever."""
    server.revoke(server.token)
    async with client_for(server, token_retry_delay=0.1) as client:
        with caplog.at_level(logging.ERROR, logger="adapters.logo.client"):
            assert not await client.start(wait=3)
            await asyncio.sleep(0.5)
        attempts = server.attempts("create_session")
        assert len(attempts) == 4 and {a.connection for a in attempts} == {1}
        assert all(b.at - a.at >= 0.09 for a, b in itertools.pairwise(attempts))
        assert client.ended is not None and client.ended.reason == "invalid token"
        (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert line.startswith("LoGo: アクセストークンが無効です")
        assert "kairan logo login" in line and "(LoGo: invalid token)" in line


@pytest.mark.parametrize(
    ("refusal", "japanese"),
    [
        ("unauthorized device", "このトークンの端末は認証されていません"),
        ("expired password", "ボットのアカウントのパスワードの有効期限が切れています"),
        ("deleted account", "ボットのアカウントは LoGoチャットで削除されています"),
    ],
    ids=["unauthorized-device", "expired-password", "deleted-account"],
)
async def test_a_refused_session_says_why_and_what_to_do(
    server: LogoFakeServer, caplog: pytest.LogCaptureFixture, refusal: str, japanese: str
) -> None:
    if refusal == "unauthorized device":
        server.devices[server.token].authorized = False
    elif refusal == "expired password":
        server.password_expired.add(BOT_ID)
    else:
        server.deleted.add(BOT_ID)
    async with client_for(server) as client:
        with caplog.at_level(logging.ERROR, logger="adapters.logo.client"):
            assert not await client.start(wait=3)
            await asyncio.sleep(0.3)
        assert len(server.attempts("create_session")) == 1  # given up at once
        assert client.ended is not None and client.ended.reason == refusal
        (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert line.startswith(f"LoGo: {japanese}") and line.endswith(f"(LoGo: {refusal})")


async def test_a_session_past_its_password_expiration_is_given_up(server: LogoFakeServer) -> None:
    """direct-js also reads the session's password_expiration: past it, the password has expired."""
    server.password_expiration[BOT_ID] = {"expiration": int(time.time() * 1000) - 1}
    async with client_for(server) as client:
        assert not await client.start(wait=3)
        assert client.ended is not None and client.ended.reason == "expired password"


async def test_a_password_expiring_soon_is_warned_once(
    server: LogoFakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    now = int(time.time() * 1000)
    server.password_expiration[BOT_ID] = {"expiration": now + 86_400_000, "warning": now - 1}
    async with client_for(server) as client:
        with caplog.at_level(logging.WARNING, logger="adapters.logo.client"):
            assert await client.start(wait=3)
            await server.drop()
            await server.wait_for(lambda: client.sessions == 2 and client.connected())
        warnings = [r.getMessage() for r in caplog.records if "パスワード" in r.getMessage()]
        assert len(warnings) == 1
        assert warnings[0].startswith("LoGo: ボットのアカウントのパスワードの有効期限が近づいています（")
        assert client.connected() and client.ended is None


async def test_send_is_retried_after_retry_after(server: LogoFakeServer) -> None:
    async with client_for(server) as client:
        await client.start(wait=5)
        server.fail_next("create_message", code=429, message="too many requests", retry_after=0.3)
        result = await client.send_text(GROUP_TALK, "テスト送信")
        tries = server.attempts("create_message")
        assert [t.ok for t in tries] == [False, True]
        assert tries[1].at - tries[0].at >= 0.3
        assert tries[1].params == [GROUP_TALK, 1, "テスト送信"]
        assert result["content"] == "テスト送信" and result["user_id"] == BOT_ID


async def test_non_retryable_error_fails_the_send(server: LogoFakeServer) -> None:
    async with client_for(server) as client:
        await client.start(wait=5)
        server.fail_next("create_message", code=403, message="forbidden")
        with pytest.raises(RpcError) as info:
            await client.send_text(GROUP_TALK, "x")
        assert (info.value.code, info.value.message) == (403, "forbidden")
        assert str(info.value) == "create_message failed: 403 forbidden"


async def test_sends_are_spaced_by_the_interval(server: LogoFakeServer) -> None:
    async with client_for(server, send_interval=0.1) as client:
        await client.start(wait=5)
        await asyncio.gather(*(client.send_text(GROUP_TALK, f"{i}") for i in range(3)))
        sent = server.sent(GROUP_TALK)
        assert [c.params[2] for c in sent] == ["0", "1", "2"]
        assert all(b.at - a.at >= 0.09 for a, b in itertools.pairwise(sent))


async def first_message_then_cut_off(server: LogoFakeServer, client: LogoClient) -> dict[str, Any]:
    """Start the client, let 山田 post once in the 1:1 talk (acked), then cut the connection."""
    await client.start(wait=5)
    first, push_id = await server.push_message(talk_id=PAIR_TALK, user_id=YAMADA, text="一件目")
    await server.wait_for(lambda: push_id in server.acks)
    await server.drop()
    return first


async def test_a_resumed_session_goes_straight_to_start_notification(server: LogoFakeServer) -> None:
    """The server kept the bot's notifications while it was away (create_session says notification:
    true): like direct-js, no reset (which would throw them away) and no refetch; they just come."""
    async with client_for(server) as client:
        seen: list[int] = []
        client.add_handler(lambda method, payload: seen.append(payload["message_id"]))
        first = await first_message_then_cut_off(server, client)
        missed, queued = await server.push_message(talk_id=GROUP_TALK, user_id=SATO, text="切断中の投稿")
        assert queued is not None and queued not in server.acks  # held for the bot
        await server.wait_for(lambda: client.sessions == 2 and queued in server.acks)
        resumed = ["create_session", "start_notification", "update_last_used_at"]
        assert server.methods(connection=2)[:3] == resumed
        assert not {"reset_notification", "get_talks", "get_messages"} & set(server.methods(connection=2))
        assert seen == [first["message_id"], missed["message_id"]]
        assert client.is_pair_talk(PAIR_TALK) and client.user_name(YAMADA) == "山田 太郎"  # kept


async def test_a_session_the_server_forgot_is_rebuilt_and_backfilled(server: LogoFakeServer) -> None:
    """notification: false after a reconnection: a full handshake, then get_messages for every talk
    whose status shows newer messages, including talks the bot had seen no message in."""
    async with client_for(server) as client:
        seen: list[int] = []
        client.add_handler(lambda method, payload: seen.append(payload["message_id"]))
        first = await first_message_then_cut_off(server, client)
        server.forget_notifications()
        missed = server.store_message(talk_id=PAIR_TALK, user_id=YAMADA, text="切断中の投稿")
        elsewhere = server.store_message(talk_id=GROUP_TALK, user_id=SATO, text="こちらも切断中")
        await server.wait_for(lambda: client.sessions == 2 and {missed["message_id"], elsewhere["message_id"]}
                              <= set(seen))
        assert server.methods(connection=2)[: len(HANDSHAKE)] == HANDSHAKE
        fetched = {c.params[0]: c.params for c in server.attempts("get_messages")}
        assert fetched == {
            PAIR_TALK: [PAIR_TALK, 20, first["message_id"], None, 1],
            GROUP_TALK: [GROUP_TALK, 20, None, None, 1],  # no message seen there: from its start
        }
        assert seen == [first["message_id"], missed["message_id"], elsewhere["message_id"]]


async def test_backfill_is_dropped_when_the_server_lacks_get_messages(server: LogoFakeServer) -> None:
    server.get_messages_supported = False
    async with client_for(server) as client:
        client.add_handler(lambda method, payload: None)
        await first_message_then_cut_off(server, client)
        server.forget_notifications()
        server.store_message(talk_id=PAIR_TALK, user_id=YAMADA, text="切断中の投稿")
        await server.wait_for(lambda: client.sessions == 2 and client.backfill is False)
        assert len(server.attempts("get_messages")) == 1
        assert client.connected()


async def test_last_used_at_is_updated_after_start_notification_and_every_interval(
    server: LogoFakeServer,
) -> None:
    """direct-js calls update_last_used_at once notifications start, then every 10 minutes."""
    assert make_client(server).last_used_interval == 600
    async with client_for(server, last_used_interval=0.2) as client:
        await client.start(wait=5)
        await asyncio.sleep(0.5)
        calls = server.attempts("update_last_used_at")
        assert server.methods()[: len(HANDSHAKE)] == HANDSHAKE  # ends start_notification, update_last_used_at
        assert 2 <= len(calls) <= 4
        assert all(0.18 <= b.at - a.at <= 0.6 for a, b in itertools.pairwise(calls))
        await server.drop()  # a resumed session updates it again at once
        await server.wait_for(lambda: "update_last_used_at" in server.methods(connection=2))
    stopped = len(server.attempts("update_last_used_at"))
    await asyncio.sleep(0.3)
    assert len(server.attempts("update_last_used_at")) == stopped


async def test_read_marks_are_gathered_per_talk_and_sent_as_uint64(server: LogoFakeServer) -> None:
    """update_read_statuses [talk_id, newest id read], as direct-js sends it a second after reading."""
    assert LogoClient(url=server.url, token=server.token).read_delay == 1.0
    async with client_for(server, read_delay=0.1) as client:
        await client.start(wait=5)
        one = server.store_message(talk_id=GROUP_TALK, user_id=YAMADA, text="一")
        two = server.store_message(talk_id=GROUP_TALK, user_id=SATO, text="二")
        client.mark_read(GROUP_TALK, one["message_id"])
        client.mark_read(GROUP_TALK, two["message_id"])
        client.mark_read(GROUP_TALK, one["message_id"])  # older: nothing to do
        await server.wait_for(lambda: bool(server.attempts("update_read_statuses")))
        await asyncio.sleep(0.3)
        (call,) = server.attempts("update_read_statuses")
        assert call.params == [GROUP_TALK, two["message_id"]] and call.ok
        ids = GROUP_TALK.to_bytes(8, "big") + b"\xcf" + two["message_id"].to_bytes(8, "big")
        assert b"\x92\xcf" + ids in call.frame
        assert server.read_up_to[(BOT_ID, GROUP_TALK)] == two["message_id"]


async def test_a_read_mark_made_while_disconnected_is_sent_in_the_next_session(
    server: LogoFakeServer,
) -> None:
    async with client_for(server) as client:
        first = await first_message_then_cut_off(server, client)
        client.mark_read(PAIR_TALK, first["message_id"])
        await server.wait_for(lambda: bool(server.attempts("update_read_statuses")))
        assert server.attempts("update_read_statuses")[0].connection == 2
        assert server.read_up_to[(BOT_ID, PAIR_TALK)] == first["message_id"]


def test_codec_round_trip_and_garbage() -> None:
    frame = pack([0, 7, "create_message", [200, 1, "本文"]])
    assert unpack(frame) == [0, 7, "create_message", [200, 1, "本文"]]
    # bin-typed strings from other encoders are decoded too
    binary = msgpack.packb([1, 3, None, {b"talk_id": 5, "content": b"\xe6\x9c\xac"}], use_bin_type=True)
    assert unpack(binary) == [1, 3, None, {"talk_id": 5, "content": "本"}]
    with pytest.raises(ProtocolError, match="undecodable MessagePack frame"):
        unpack(b"\x94\x00")
    with pytest.raises(ProtocolError, match="not a MessagePack-RPC request or response"):
        unpack(msgpack.packb({"a": 1}))
    with pytest.raises(ProtocolError, match="message id must be an integer, got 'x'"):
        unpack(msgpack.packb([1, "x", None, True]))


def test_ids_are_packed_as_64_bit_like_direct_js() -> None:
    """direct-js keeps ids as Int64 and writes them as uint64 (int64 when the top bit is set), whatever
    their size; other integers take the smallest type."""
    frame = pack([0, 7, "create_message", [Id(200), 1, "本文"]])
    assert frame == (
        b"\x94\x00\x07\xaecreate_message"
        b"\x93\xcf\x00\x00\x00\x00\x00\x00\x00\xc8\x01\xa6\xe6\x9c\xac\xe6\x96\x87"
    )
    assert pack(Id(2**63 + 5)) == b"\xd3\x80\x00\x00\x00\x00\x00\x00\x05"  # high word negative
    assert pack(Id(-2)) == b"\xd3\xff\xff\xff\xff\xff\xff\xff\xfe"
    assert pack({"talk_id": Id(1), "count": 20}) == (
        b"\x82\xa7talk_id\xcf\x00\x00\x00\x00\x00\x00\x00\x01\xa5count\x14"
    )
    assert unpack(pack([1, 3, None, [Id(9)]])) == [1, 3, None, [9]]


async def test_talk_and_message_ids_go_out_as_uint64(server: LogoFakeServer) -> None:
    async with client_for(server) as client:
        first = await first_message_then_cut_off(server, client)
        server.forget_notifications()
        server.store_message(talk_id=PAIR_TALK, user_id=YAMADA, text="切断中の投稿")
        await server.wait_for(lambda: any(c.params[0] == PAIR_TALK for c in server.attempts("get_messages")))
        backfill = next(c.frame for c in server.attempts("get_messages") if c.params[0] == PAIR_TALK)
        since = first["message_id"].to_bytes(8, "big")
        assert b"\x95\xcf" + PAIR_TALK.to_bytes(8, "big") + b"\x14\xcf" + since + b"\xc0\x01" in backfill
        await server.wait_for(client.connected)
        await client.send_text(GROUP_TALK, "テスト送信")
        (call,) = server.sent(GROUP_TALK)
        assert b"\x93\xcf" + GROUP_TALK.to_bytes(8, "big") + b"\x01" in call.frame


def test_rpc_error_reads_retry_after() -> None:
    err = RpcError("create_message", {"code": 503, "message": "service temporarily unavailable",
                                      "detail": {"retry_after": 12}})
    assert (err.code, err.retryable, err.retry_after) == (503, True, 12.0)
    capped = RpcError("x", {"code": 429, "message": "too many requests", "detail": {"retry_after": 99999}})
    assert capped.retry_after == 300
    assert RpcError("x", {"code": 400, "message": "bad", "detail": None}).retry_after is None
    assert not RpcError("x", {"code": 400, "message": "bad"}).retryable


async def test_concurrent_access_stops_the_client_instead_of_knocking_the_other_off(
    server: LogoFakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Two bots sharing a token: the server closes the older session with "concurrent access". The
    official client stops there; reconnecting would knock the other bot off, forever."""
    async with client_for(server) as first, client_for(server) as second:
        assert await first.start(wait=5)
        with caplog.at_level(logging.ERROR, logger="adapters.logo.client"):
            assert await second.start(wait=5)
            await server.wait_for(lambda: not first.connected())
            await asyncio.sleep(0.5)  # ten times the reconnection delay
        assert len(server.attempts("create_session")) == 2
        assert second.connected() and not first.connected()
        assert first.ended is not None and first.ended.reason == "concurrent access"
        assert second.ended is None
        (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert line.startswith("LoGo: 同じアクセストークンで別の接続が始まったため")
        assert "concurrent access" in line
        with pytest.raises(SessionEnded):  # nothing is sent any more
            await first.send_text(GROUP_TALK, "x")


async def test_a_forcibly_closed_session_is_not_reopened(
    server: LogoFakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with client_for(server) as client:
        assert await client.start(wait=5)
        with caplog.at_level(logging.ERROR, logger="adapters.logo.client"):
            await server.close_sessions(reason="forcibly closed")
            sending = asyncio.create_task(client.send_text(GROUP_TALK, "閉じた後の送信"))
            with pytest.raises(SessionEnded):  # fails instead of waiting for a session forever
                await asyncio.wait_for(sending, 2)
            await asyncio.sleep(0.5)
        assert len(server.attempts("create_session")) == 1 and not client.connected()
        assert client.ended is not None and client.ended.reason == "forcibly closed"
        (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert line.startswith("LoGo: LoGoチャットがこのボットのセッションを強制終了しました")
        assert "kairan logo login" in line and "forcibly closed" in line


async def test_a_session_ended_during_the_handshake_ends_at_once(server: LogoFakeServer) -> None:
    """The calls waiting for an answer fail when the connection closes, not after call_timeout."""
    server.unanswered.add("get_talks")
    async with client_for(server, call_timeout=5.0) as client:
        assert not await client.start(wait=0.5)
        await server.close_sessions(reason="forcibly closed")
        await server.wait_for(lambda: client.ended is not None, timeout=1.5)
        assert client.ended is not None and client.ended.reason == "forcibly closed"


async def test_a_close_with_another_reason_is_reconnected(server: LogoFakeServer) -> None:
    async with client_for(server) as client:
        assert await client.start(wait=5)
        await server.close_sessions(reason="server maintenance")
        await server.wait_for(lambda: client.sessions == 2 and client.connected())
        assert client.ended is None
