"""Conformance: the official LoGo Chat client, direct-js 2.1.0, against our fake server and our bot.

The fake server (``tests/fakes/logo_server.py``) is only trusted as far as the real client works
against it: direct-js signs in as 山田 太郎, goes through its whole handshake, asks kairan a
question with a mention, receives the cited answer (mentioning 山田, flagged ``mention`` for him by
the server) and sees the bot's 既読 on his question; and it reacts to the server's session ends,
401 answers and resumed notifications the way kairan's own client is tested to.

Needs ``node`` and ``npm`` (``.ci/run`` installs them); the pinned direct-js comes from npm.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path
from typing import Any

import pytest

from adapters.logo.adapter import LogoAdapter
from bot.models import Answer, Citation
from bot.ports import Answerer
from bot.state.db import Database
from manifest.schema import LOGO_API_VERSION, Manifest
from tests.adapters.logo.conftest import make_adapter
from tests.conformance.logo.direct_js import DirectJsUser, NodeMissing, install
from tests.fakes.engines import FixedAnswerEngine
from tests.fakes.logo_server import (
    API_VERSION,
    BOT_ID,
    DOMAIN_ID,
    GROUP_TALK,
    PAIR_TALK,
    TOKEN,
    YAMADA,
    YAMADA_TOKEN,
    LogoFakeServer,
)

BOT_MENTION = f"{{@:{BOT_ID},4}}@回覧板"
QUESTION = "行政財産の目的外使用の許可の根拠は？"


@pytest.fixture(scope="module")
def user_script() -> Path:
    try:
        return install()
    except NodeMissing as exc:
        reason = f"node and npm are needed to run the official LoGo client direct-js ({exc})"
        if os.environ.get("KAIRAN_REQUIRE_NODE"):  # CI: a missing Node is a failure, not a skip
            pytest.fail(reason)
        pytest.skip(f"{reason}; .ci/run installs them")


def yamada(script: Path, server: LogoFakeServer, tmp_path: Path, token: str = YAMADA_TOKEN) -> DirectJsUser:
    return DirectJsUser(script, url=server.url, token=token, storage=tmp_path / "direct-js")


async def bot(
    server: LogoFakeServer, engine: Answerer, db: Database, manifest: Manifest, **options: Any
) -> LogoAdapter:
    adapter = make_adapter(server, engine=engine, db=db, manifest=manifest, **options)
    await adapter.start()
    assert adapter.connected()
    return adapter


async def test_the_official_client_signs_in_through_its_whole_handshake(
    user_script: Path, server: LogoFakeServer, tmp_path: Path
) -> None:
    async with yamada(user_script, server, tmp_path) as user:
        ready = await user.wait("ready")
        await server.wait_for(lambda: "update_last_used_at" in server.methods())
        await asyncio.sleep(0.3)
    assert user.of("error") == [], user.log()
    failed = [(c.method, c.params) for c in server.calls if not c.ok]
    assert failed == [], user.log()
    calls = server.methods()
    # What direct-js asks for before it starts notifications, every call answered:
    assert calls[:2] == ["create_session", "reset_notification"]
    assert {
        "get_domains", "get_account_control_requests", "get_joined_account_control_group",
        "get_announcement_statuses", "get_friends", "get_acquaintances", "get_domain_invites",
        "get_talks", "get_talk_statuses", "get_user_identifiers",
    } <= set(calls[2: calls.index("start_notification")])
    assert calls.index("start_notification") < calls.index("update_last_used_at")
    # The version the official client announces is the one the fake serves and kairan sends.
    assert server.attempts("create_session")[0].params == [YAMADA_TOKEN, API_VERSION, "bot"]
    assert API_VERSION == LOGO_API_VERSION == "1.122"
    talks = {int(t["id"]): t for t in ready["talks"]}
    assert set(talks) == {PAIR_TALK, GROUP_TALK}  # 雑談 is not his
    assert talks[GROUP_TALK]["name"] == "福祉部" and str(BOT_ID) in talks[GROUP_TALK]["users"]
    users = {int(u["id"]): u for u in ready["users"]}
    assert users[BOT_ID] == {"id": str(BOT_ID), "name": "回覧板", "domain": str(DOMAIN_ID)}


async def test_a_question_from_the_official_client_gets_kairans_cited_answer_and_read_mark(
    user_script: Path, server: LogoFakeServer, tmp_path: Path, real_engine: Answerer, db: Database,
    manifest: Manifest,
) -> None:
    adapter = await bot(server, real_engine, db, manifest)
    try:
        async with yamada(user_script, server, tmp_path) as user:
            await user.wait("ready")
            await user.send(GROUP_TALK, f"{BOT_MENTION} {QUESTION}", key="q")
            sent = await user.wait("sent", lambda e: e["key"] == "q")
            reply = await user.wait("message", lambda e: e["user"] == str(BOT_ID), timeout=60)
            read = await user.wait("read", lambda e: e["key"] == "q")
        assert reply["room"] == str(GROUP_TALK)
        # direct-js shows mentions as @Name; the server flagged the reply as mentioning him.
        assert reply["text"].startswith("@山田 太郎\nAIによる要約ではなく、検索結果です。")
        assert reply["mention"]["me"] is True and reply["mention"]["all"] is False
        source = "［1］地方自治法 第二百三十八条の四 https://laws.e-gov.go.jp/law/322AC0000000067"
        assert f"【出典】\n{source}" in reply["text"]
        assert read["readers"] == [str(BOT_ID)]  # 既読 by the bot on his question
        assert server.read_up_to[(BOT_ID, GROUP_TALK)] == int(sent["id"])
        assert user.of("error") == [], user.log()
    finally:
        await adapter.stop()


async def test_a_one_to_one_question_is_answered_without_a_mention(
    user_script: Path, server: LogoFakeServer, tmp_path: Path, db: Database, manifest: Manifest
) -> None:
    citation = Citation(
        n=1, doc_id="322AC0000000067", article="238_4", title="地方自治法 第二百三十八条の四",
        url="https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4", quote="", verified=True,
    )
    engine = FixedAnswerEngine(Answer(text="許可できます。", citations=(citation,), abstained=False))
    adapter = await bot(server, engine, db, manifest)
    try:
        async with yamada(user_script, server, tmp_path) as user:
            await user.wait("ready")
            await user.send(PAIR_TALK, QUESTION, key="q")
            reply = await user.wait("message", lambda e: e["user"] == str(BOT_ID))
            await user.wait("read", lambda e: e["key"] == "q" and e["readers"] == [str(BOT_ID)])
        assert reply["room"] == str(PAIR_TALK)
        assert reply["text"].endswith(
            "@山田 太郎\n許可できます。\n\n【出典】\n"
            "［1］地方自治法 第二百三十八条の四 https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4"
        )
        assert [q.text for q in engine.questions] == [QUESTION]
    finally:
        await adapter.stop()


async def test_a_question_asked_while_the_bot_was_cut_off_is_answered_when_it_is_back(
    user_script: Path, server: LogoFakeServer, tmp_path: Path, db: Database, manifest: Manifest
) -> None:
    engine = FixedAnswerEngine(Answer(text="戻りました。", citations=(), abstained=False))
    adapter = await bot(server, engine, db, manifest, reconnect_initial=3.0)
    try:
        async with yamada(user_script, server, tmp_path) as user:
            await user.wait("ready")
            await server.drop(user_id=BOT_ID)
            await user.send(GROUP_TALK, f"{BOT_MENTION} 切断中の質問", key="q")
            await user.wait("sent", lambda e: e["key"] == "q")
            assert not adapter.connected()
            reply = await user.wait("message", lambda e: e["user"] == str(BOT_ID))
            await user.wait("read", lambda e: e["key"] == "q" and e["readers"] == [str(BOT_ID)])
        assert reply["text"] == "@山田 太郎\n戻りました。"
        bot_sessions = [c.connection for c in server.attempts("create_session") if c.params[0] == TOKEN]
        assert server.methods(connection=bot_sessions[1])[:2] == ["create_session", "start_notification"]
        assert [q.text for q in engine.questions] == ["切断中の質問"]
    finally:
        await adapter.stop()


async def test_the_official_client_resumes_with_notification_true_and_gets_what_was_queued(
    user_script: Path, server: LogoFakeServer, tmp_path: Path
) -> None:
    async with yamada(user_script, server, tmp_path) as user:
        await user.wait("ready")
        await server.wait_for(lambda: "update_last_used_at" in server.methods())
        first = server.connections
        await server.drop()
        await user.wait("closed")
        await server.push_message(talk_id=PAIR_TALK, user_id=BOT_ID, text="切断中の投稿")
        # direct-js comes back on its own (3 s), is told notification: true and only starts notifications.
        # (direct-js puts its own name before a 1:1 message, as a hubot script expects.)
        message = await user.wait("message", lambda e: e["text"] == "conformance 切断中の投稿", timeout=20)
        assert message["room"] == str(PAIR_TALK)
        assert server.methods(connection=first + 1)[:2] == ["create_session", "start_notification"]
        assert "reset_notification" not in server.methods(connection=first + 1)


async def test_the_official_client_stops_after_concurrent_access(
    user_script: Path, server: LogoFakeServer, tmp_path: Path
) -> None:
    async with yamada(user_script, server, tmp_path) as user:
        await user.wait("ready")
        async with yamada(user_script, server, tmp_path / "second") as second:  # the same token again
            await second.wait("ready")
            closed = await user.wait("closed")
            assert "code:1000, reason:concurrent access" in closed["line"]
            await asyncio.sleep(5)  # past direct-js's first reconnection (3 s)
        sessions = [c for c in server.attempts("create_session")]
        assert len(sessions) == 2  # the first client did not come back
        assert (1, 1000, "concurrent access") in server.close_reasons


async def test_the_official_client_signs_out_when_forcibly_closed(
    user_script: Path, server: LogoFakeServer, tmp_path: Path
) -> None:
    async with yamada(user_script, server, tmp_path) as user:
        await user.wait("ready")
        await server.close_sessions(reason="forcibly closed", user_id=YAMADA)
        assert await user.exited() == 1  # direct-js signs out and ends the process
        assert "code:1000, reason:forcibly closed" in user.of("closed")[0]["line"]
        assert len(server.attempts("create_session")) == 1


async def test_the_official_client_gives_up_on_an_invalid_token_after_three_retries(
    user_script: Path, server: LogoFakeServer, tmp_path: Path
) -> None:
    server.revoke(YAMADA_TOKEN)
    async with yamada(user_script, server, tmp_path) as user:
        await server.wait_for(lambda: len(server.attempts("create_session")) == 4, timeout=15)
        await asyncio.sleep(3)
        attempts = server.attempts("create_session")
        assert len(attempts) == 4  # once, then three retries one second apart (replication lag)
        assert all(0.9 < b.at - a.at < 3 for a, b in itertools.pairwise(attempts))
        assert user.of("ready") == []
        assert [e["data"]["message"] for e in user.of("error")] == ["invalid token"]


async def test_the_official_client_signs_out_for_a_deleted_account(
    user_script: Path, server: LogoFakeServer, tmp_path: Path
) -> None:
    server.deleted.add(YAMADA)
    async with yamada(user_script, server, tmp_path) as user:
        assert await user.exited() == 1
        assert len(server.attempts("create_session")) == 1


async def test_the_official_client_stops_on_an_expired_password(
    user_script: Path, server: LogoFakeServer, tmp_path: Path
) -> None:
    server.password_expired.add(YAMADA)
    async with yamada(user_script, server, tmp_path) as user:
        await user.wait("password_expiration_overed")
        await asyncio.sleep(1)
        assert server.methods() == ["create_session"] and user.of("ready") == []


def test_without_node_the_install_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NodeMissing, match="node=None npm=None"):
        install()


async def test_the_official_client_reads_the_sessions_password_expiration(
    user_script: Path, server: LogoFakeServer, tmp_path: Path
) -> None:
    """The fields and units (ms since the epoch) the fake and kairan use, as direct-js reads them."""
    now = int(time.time() * 1000)
    server.password_expiration[YAMADA] = {"expiration": now + 86_400_000, "warning": now - 1}
    async with yamada(user_script, server, tmp_path) as user:
        await user.wait("password_expiration_warned")
        await user.wait("ready")
    server.password_expiration[YAMADA] = {"expiration": now - 1}
    async with yamada(user_script, server, tmp_path / "expired") as user:
        await user.wait("password_expiration_overed")
        await asyncio.sleep(1)
        assert user.of("ready") == []
