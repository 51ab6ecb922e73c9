"""Teams adapter fixtures: a real knowledge base (地方自治法), the local token issuer, the mock
Bot Connector, and a harness that runs the real adapter on 127.0.0.1 and posts activities to it."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from microsoft_agents.hosting.core.authorization.jwt.jwt_token_validator import JwtTokenValidator

from adapters.teams.adapter import TeamsAdapter
from adapters.teams.factory import build_teams_adapter, teams_auth_configuration
from bot.engine import AnswerEngine, EngineSettings
from bot.flow.lifecycle import FlowSettings, Lifecycle
from bot.llm.base import LLMProvider
from bot.models import Digest, DigestItem
from bot.ports import Answerer
from bot.state.audit import AuditLog
from bot.state.db import Database
from bot.state.events import EventLedger
from bot.state.inflight import InFlight
from bot.state.outbox import Outbox
from kairan.wiring import open_searcher
from knowledge.search import Searcher
from manifest.schema import Manifest
from tests.fakes.knowledge_base import law_kb
from tests.fakes.local_http import serve_locally
from tests.fakes.runtime import platform_runtime
from tests.fakes.teams_auth import FakeBotFrameworkIssuer, LocalJwksManager, fake_connections, local_jwks_uri
from tests.fakes.teams_connector import MockConnector

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"
JICHIHO = SHARED / "corpus" / "egov_html" / "322AC0000000067_20250601_504AC0000000068.html"
FIXTURES = REPO / "tests" / "fixtures" / "teams"

APP_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
BOT_ACCOUNT = f"28:{APP_ID}"
AAD_TENANT = "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6"
CHANNEL = "19:8a7c6e5d4b3a2f1e0d9c8b7a6f5e4d3c@thread.tacv2"
TEAM = "19:2b4d6f8a0c1e3a5c7e9a1b3d5f7a9c1e@thread.tacv2"
GROUP_CHAT = "19:meeting_3f5e7a9c1b2d4f6a8c0e2b4d6f8a0c1e@thread.v2"
ENV = {"TEAMS_APP_ID": APP_ID, "TEAMS_APP_PASSWORD": "not-used-the-token-provider-is-fake"}
# The Microsoft 365 Agents Playground's own ids (its default configuration, payload_playground_*.json).
PLAYGROUND_TENANT = "00000000-0000-0000-0000-0000000000001"
PLAYGROUND_TEAM = "team-id"  # its team, whose General channel has the team's id


SOUMU_DIGEST = Digest(
    subscription="soumu-daily",
    items=(
        DigestItem(
            title="地方自治法施行令の一部を改正する政令の施行について（通知）",
            url="https://www.soumu.go.jp/main_content/000000001.pdf",
            summary="行政財産の貸付けに関する規定を整備するもの。",
            published="2025-06-02",
            source="総務省",
        ),
    ),
)


def payload(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"payload_{name}.json").read_text(encoding="utf-8"))


def teams_manifest() -> Manifest:
    """Two municipalities; 横須賀市 has the channel and every chat of its Entra tenant."""
    return Manifest.model_validate(
        {
            "platforms": {"teams": {
                "app_id_env": "TEAMS_APP_ID", "app_password_env": "TEAMS_APP_PASSWORD",
                "service_url_hosts": ["127.0.0.1"],  # the mock Bot Connector
            }},
            "tenants": [
                {
                    "id": "yokosuka",
                    "name": "横須賀市",
                    "collections": ["laws"],
                    "channels": [
                        {"platform": "teams", "id": CHANNEL, "name": "総務課 / 一般"},
                        {"platform": "teams", "id": AAD_TENANT, "name": "横須賀市のチャット"},
                    ],
                },
                {"id": "zushi", "name": "逗子市", "collections": ["laws"]},
            ],
        }
    )


def dev_manifest() -> Manifest:
    """The development mode (no token, no credentials); the Playground's tenant is 横須賀市's."""
    return Manifest.model_validate(
        {
            "platforms": {"teams": {"dev_anonymous": True}},
            "tenants": [
                {
                    "id": "yokosuka",
                    "name": "横須賀市",
                    "collections": ["laws"],
                    "channels": [{"platform": "teams", "id": PLAYGROUND_TENANT, "name": "Agents Playground"}],
                },
                {"id": "zushi", "name": "逗子市", "collections": ["laws"]},
            ],
        }
    )


@pytest.fixture(scope="module")
def kb_searcher(tmp_path_factory: pytest.TempPathFactory) -> Searcher:
    """地方自治法 from the shared corpus, ingested once for the module."""
    return open_searcher(law_kb(tmp_path_factory.mktemp("teams-kb"), JICHIHO))


def real_engine(searcher: Searcher, db: Database, provider: LLMProvider | None = None) -> AnswerEngine:
    return AnswerEngine(
        searcher=searcher, provider=provider, audit=AuditLog(db), settings=EngineSettings(rewrite=False)
    )


@dataclass
class Teams:
    """The running pieces of one test: issuer, connector, JWKS seam and adapters."""

    issuer: FakeBotFrameworkIssuer
    connector: MockConnector
    jwks: LocalJwksManager
    db: Database
    adapters: list[TeamsAdapter] = field(default_factory=list)
    runners: list[web.AppRunner] = field(default_factory=list)
    ports: dict[int, int] = field(default_factory=dict)

    async def start_adapter(
        self,
        engine: Answerer,
        *,
        outbox: Outbox | None = None,
        queue_failures: bool = True,
        redeliver_interval: float = 30.0,
        inflight: InFlight | None = None,
        resume_interval: float = 60.0,
        dev: bool = False,
        **settings: Any,
    ) -> TeamsAdapter:
        """The factory's adapter, started, on a lifecycle like the factory's: ``outbox`` replaces its
        outbox (``queue_failures=False``: none, refused answers are only logged), ``inflight`` its
        questions in flight (e.g. a short ``stale_after``); ``settings`` replace fields of its
        TeamsSettings. ``dev``: the development mode, with no secret in the environment and the
        factory's own (anonymous) token providers."""
        manifest = dev_manifest() if dev else teams_manifest()
        environ = {} if dev else ENV
        lifecycle = Lifecycle(
            answerer=engine,
            ledger=EventLedger(self.db),
            inflight=inflight or InFlight(self.db),
            outbox=(outbox or Outbox(self.db)) if queue_failures else None,
            settings=FlowSettings(redeliver_interval=redeliver_interval, resume_interval=resume_interval),
        )
        adapter = build_teams_adapter(
            platform_runtime(
                manifest, self.db, engine, environ=environ, audit=AuditLog(self.db), lifecycle=lifecycle
            ),
            connections=None if dev else fake_connections(teams_auth_configuration(manifest, ENV)),
            **settings,
        )
        assert adapter is not None
        return await self.serve(adapter)

    async def serve(self, adapter: TeamsAdapter) -> TeamsAdapter:
        """Start ``adapter`` and do what kairan serve does: mount its endpoint on an aiohttp app (port 0)."""
        await adapter.start()
        app = web.Application()
        app.add_subapp(*adapter.http_endpoint())
        runner, self.ports[id(adapter)] = await serve_locally(app)
        self.runners.append(runner)
        self.adapters.append(adapter)
        return adapter

    def activity(self, name: str, **changes: Any) -> dict[str, Any]:
        body = copy.deepcopy(payload(name))
        body["serviceUrl"] = self.connector.service_url
        body.update(changes)
        return body

    def token(self, **overrides: Any) -> str:
        args: dict[str, Any] = {"audience": APP_ID, "service_url": self.connector.service_url, **overrides}
        return self.issuer.token(**args)

    async def post(
        self, adapter: TeamsAdapter, body: dict[str, Any], *, authorization: str | None = "valid"
    ) -> tuple[int, Any]:
        """POST an activity to the adapter; ``authorization`` is the header ("valid": a good token)."""
        headers = {}
        if authorization is not None:
            headers["Authorization"] = f"Bearer {self.token()}" if authorization == "valid" else authorization
        url = f"http://127.0.0.1:{self.ports[id(adapter)]}/api/messages"
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json=body, headers=headers) as response,
        ):
            text = await response.text()
            return response.status, json.loads(text) if text else None


@pytest.fixture
async def teams(db: Database, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Teams]:
    async with FakeBotFrameworkIssuer() as issuer, MockConnector() as connector:
        # The one patched SDK seam (see tests/fakes/teams_auth.py): where JwtTokenValidator gets keys.
        jwks = LocalJwksManager(await local_jwks_uri(issuer.metadata_url))
        monkeypatch.setattr(JwtTokenValidator, "_jwk_client_manager", jwks)
        harness = Teams(issuer=issuer, connector=connector, jwks=jwks, db=db)
        try:
            yield harness
        finally:
            for adapter in harness.adapters:
                await adapter.stop()
            for runner in harness.runners:
                await runner.cleanup()
