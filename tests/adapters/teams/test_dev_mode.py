"""The development mode (``platforms.teams.dev_anonymous``): the Microsoft 365 Agents Playground's
activities, which carry no token, answered by a bot that has no credentials — only on this machine.

The activities are the Playground's own (payload_playground_*.json, recorded from
@microsoft/m365agentsplayground 0.2.28); the environment holds no Teams secret; the token providers
are the factory's own (anonymous). Proactive posts (digests, outbox redelivery, resumed answers,
the ask-again notice) go out without credentials and without a null (the mock connector refuses
one, as the Playground does).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from adapters.spec import LoopbackOnly, is_loopback
from adapters.teams.adapter import TeamsAdapter
from adapters.teams.auth import InboundPolicy, from_this_machine, inbound_guard
from bot import wording
from bot.models import ConversationRef
from bot.state.audit import AuditLog
from bot.state.inflight import InFlight
from bot.state.outbox import Outbox
from kairan.serve import refuse_exposure, serve
from kairan.wiring import KnowledgeConfig
from knowledge.search import Searcher
from manifest.schema import Manifest
from manifest.secrets import required_env
from tests.adapters.teams.conftest import PLAYGROUND_TEAM, SOUMU_DIGEST, Teams, dev_manifest, real_engine
from tests.adapters.teams.test_channel import OUTAGE, until
from tests.fakes.engines import HangingEngine
from tests.fakes.teams_connector import Posted

STALE = timedelta(seconds=0.6)
PLAYGROUND_ROOT = "1796416005000"  # payload_playground_channel_mention.json: team-id;messageid=…
PLAYGROUND_THREAD = f"{PLAYGROUND_TEAM};messageid={PLAYGROUND_ROOT}"


def assert_anonymous(teams: Teams) -> None:
    """Everything went out without credentials and was taken (no null, no other refusal)."""
    assert teams.connector.posted
    assert all(p.authorization is None for p in teams.connector.posted)
    assert teams.connector.invalid == []


def answers(teams: Teams) -> list[Posted]:
    return teams.connector.of_type("message")


# --- answering ----------------------------------------------------------------------------------


async def test_the_playgrounds_personal_message_is_answered_without_a_token_or_credentials(
    teams: Teams, kb_searcher: Searcher, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db), dev=True, stream_interval=0.1)
    question = teams.activity("playground_personal_message")
    with caplog.at_level(logging.WARNING):
        status, _ = await teams.post(adapter, question, authorization=None)
        assert status == 202
        await adapter.drain()

    assert_anonymous(teams)
    [answer] = answers(teams)
    assert answer.reply_to_id == "7c5ea1b4-f987-451c-aef8-7aba6f97886f"
    assert answer.stream_info() is not None and answer.stream_info()["streamType"] == "final"  # type: ignore[index]
    assert "地方自治法" in answer.activity["text"]
    [record] = AuditLog(teams.db).records()
    assert record.tenant == "yokosuka"  # the Playground's tenant, as the manifest lists it
    assert "App ID is not provided" not in caplog.text  # the SDK's warning on every anonymous turn


async def test_the_playgrounds_channel_mention_is_answered_in_its_thread(
    teams: Teams, kb_searcher: Searcher
) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db), dev=True)
    status, _ = await teams.post(adapter, teams.activity("playground_channel_mention"), authorization=None)
    assert status == 202
    await adapter.drain()

    assert_anonymous(teams)
    [answer] = answers(teams)
    question_id = "68a532dd-fb1e-4619-897b-061a2c6990ea"  # the Playground's activity ids are GUIDs
    assert (answer.conversation_id, answer.reply_to_id) == (PLAYGROUND_THREAD, question_id)
    assert adapter.conversations.get(PLAYGROUND_TEAM) is not None  # kept for digests


async def test_outside_the_development_mode_the_playground_gets_401(
    teams: Teams, kb_searcher: Searcher
) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    status, _ = await teams.post(adapter, teams.activity("playground_personal_message"), authorization=None)
    assert status == 401
    assert teams.connector.posted == []


async def test_the_playgrounds_feedback_vote_without_reply_to_id_is_answered_400(
    teams: Teams, kb_searcher: Searcher
) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db), dev=True)
    vote = teams.activity("playground_feedback_invoke")
    assert "replyToId" not in vote  # the Playground knows the rated message but does not send its id
    status, body = await teams.post(adapter, vote, authorization=None)

    assert (status, body) == (400, {})
    assert teams.connector.posted == []


# --- proactive: digests, redelivery, resume, ask again -------------------------------------------


async def test_a_digest_is_posted_without_credentials(teams: Teams, kb_searcher: Searcher) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db), dev=True)
    await teams.post(adapter, teams.activity("playground_channel_mention"), authorization=None)
    await adapter.drain()

    channel = ConversationRef(platform="teams", tenant="yokosuka", channel=PLAYGROUND_TEAM)
    await adapter.send(channel, SOUMU_DIGEST)

    assert_anonymous(teams)
    _, digest = answers(teams)
    assert (digest.conversation_id, digest.reply_to_id) == (PLAYGROUND_TEAM, None)
    assert "地方自治法施行令の一部を改正する政令" in digest.activity["text"]


async def test_an_answer_the_outage_kept_is_redelivered_without_credentials(
    teams: Teams, kb_searcher: Searcher
) -> None:
    outbox = Outbox(teams.db, backoff=timedelta(seconds=0.1))
    teams.connector.fail_next(503, times=OUTAGE, retry_after=0, kind="message")
    adapter = await teams.start_adapter(
        real_engine(kb_searcher, teams.db), dev=True, outbox=outbox, redeliver_interval=0.1
    )
    await teams.post(adapter, teams.activity("playground_channel_mention"), authorization=None)
    await adapter.drain()
    await until(lambda: bool(answers(teams)))

    assert_anonymous(teams)
    [answer] = answers(teams)
    assert answer.conversation_id == PLAYGROUND_THREAD and answer.reply_to_id is None  # posted proactively
    assert "地方自治法" in answer.activity["text"]
    assert outbox.pending("teams") == 0


async def hang_then_resume(teams: Teams, engine: Any, **resume: Any) -> None:
    """Replica A takes the Playground's channel mention and dies answering it; replica B resumes."""
    hanging = HangingEngine()
    replica_a = await teams.start_adapter(hanging, dev=True, inflight=InFlight(teams.db, stale_after=STALE))
    await teams.post(replica_a, teams.activity("playground_channel_mention"), authorization=None)
    await asyncio.wait_for(hanging.started.wait(), 30)
    for task in replica_a.flow.in_progress:
        task.cancel()
    await asyncio.sleep(0.1)
    inflight = InFlight(teams.db, stale_after=STALE, **resume)
    await teams.start_adapter(engine, dev=True, inflight=inflight, resume_interval=0.2)
    await until(lambda: bool(answers(teams)))
    await asyncio.sleep(0.3)


async def test_a_question_whose_bot_died_is_answered_again_without_credentials(
    teams: Teams, kb_searcher: Searcher
) -> None:
    await hang_then_resume(teams, real_engine(kb_searcher, teams.db))

    assert_anonymous(teams)
    [answer] = answers(teams)
    assert answer.conversation_id == PLAYGROUND_THREAD and "地方自治法" in answer.activity["text"]


async def test_the_ask_again_notice_goes_out_without_credentials(teams: Teams, kb_searcher: Searcher) -> None:
    await hang_then_resume(teams, real_engine(kb_searcher, teams.db), max_attempts=0)

    assert_anonymous(teams)
    [notice] = answers(teams)
    assert notice.conversation_id == PLAYGROUND_THREAD and notice.activity["text"] == wording.INTERRUPTED


# --- this machine only -------------------------------------------------------------------------


async def test_a_service_url_elsewhere_is_refused(teams: Teams, kb_searcher: Searcher) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db), dev=True)
    elsewhere = teams.activity("playground_personal_message", serviceUrl="https://smba.trafficmanager.net/jp/")
    status, _ = await teams.post(adapter, elsewhere, authorization=None)

    assert status == 401
    await asyncio.sleep(0.2)
    assert teams.connector.posted == [] and list(AuditLog(teams.db).records()) == []


def request_between(peer: str, local: str) -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = {"peername": (peer, 50000), "sockname": (local, 3978)}.get
    return make_mocked_request("POST", "/api/messages", transport=transport)


@pytest.mark.parametrize(
    ("peer", "local", "local_only"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("::1", "::1", True),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1", True),
        ("192.0.2.10", "192.0.2.1", False),  # another machine, to a listener on every interface
        ("127.0.0.1", "192.0.2.1", False),  # a proxy on this machine forwarding to a public listener
    ],
)
async def test_a_request_from_another_machine_is_refused(peer: str, local: str, local_only: bool) -> None:
    assert from_this_machine(request_between(peer, local)) is local_only
    handled: list[web.Request] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        handled.append(request)
        return web.Response(status=202)

    request = request_between(peer, local)
    request._read_bytes = b'{"type": "message", "serviceUrl": "http://localhost:56150/_connector"}'
    response = await inbound_guard(InboundPolicy.development())(request, handler)
    assert (response.status, len(handled)) == ((202, 1) if local_only else (401, 0))


def test_no_teams_secret_is_required_in_the_development_mode() -> None:
    assert [loc for loc, _ in required_env(dev_manifest()) if "teams" in loc] == []
    with pytest.raises(ValueError, match="cannot check a tenant"):
        Manifest.model_validate({"platforms": {"teams": {"dev_anonymous": True, "tenant_id_env": "T"}}})


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
async def test_serve_listens_on_loopback_in_the_development_mode(
    teams: Teams, kb_searcher: Searcher, host: str
) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db), dev=True)
    assert isinstance(adapter, LoopbackOnly) and is_loopback(host)
    refuse_exposure([adapter], host)  # does not raise


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.1", "kairan.city.example.lg.jp"])
async def test_serve_refuses_any_other_address_before_listening(tmp_path: Any, host: str) -> None:
    state = {"url": f"sqlite:///{tmp_path / 'state.db'}"}
    manifest = Manifest.model_validate({"state": state, "platforms": {"teams": {"dev_anonymous": True}}})
    config = KnowledgeConfig(manifest=manifest, data_dir=tmp_path / "data")
    with pytest.raises(PermissionError, match=r"dev_anonymous .*\(--host 127\.0\.0\.1\)"):
        await asyncio.wait_for(serve(config, host=host, port=0, environ={}, stop=asyncio.Event()), 60)


async def test_a_production_adapter_may_listen_anywhere(teams: Teams, kb_searcher: Searcher) -> None:
    adapter: TeamsAdapter = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    assert adapter.loopback_only() is None
    refuse_exposure([adapter], "0.0.0.0")  # does not raise
