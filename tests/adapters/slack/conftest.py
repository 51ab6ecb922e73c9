"""The real Slack adapter (Bolt) over real HTTP, against the local mock Slack Web API.

Knowledge base: the e-Gov XML of 行政手続法 from the shared corpus, ingested once per session.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.slack.app import SlackAdapter
from bot.engine import AnswerEngine, EngineSettings
from bot.flow.lifecycle import FlowSettings, Lifecycle
from bot.ports import Answerer
from bot.state.audit import AuditLog
from bot.state.db import Database
from bot.state.events import EventLedger
from bot.state.feedback import FeedbackStore
from bot.state.inflight import InFlight
from bot.state.outbox import Outbox
from bot.state.threads import ThreadStore
from knowledge.search import Searcher
from manifest.schema import Manifest
from tests.fakes.knowledge_base import law_kb
from tests.fakes.local_http import serve_locally
from tests.fakes.slack_api import FakeSlack

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "slack"
GYOSEI_TETSUZUKI_XML = "xml/405AC0000000088_20240401_504AC0100000052.xml"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-0000"
APP_TOKEN = "xapp-test-0000"
SOUMU_CHANNEL = "C0SOUMU001"
TENANT = "testcity"


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def app_manifest() -> dict[str, Any]:
    """The Slack app manifest ``kairan manifest slack`` prints (Socket Mode, no request URL)."""
    from ruamel.yaml import YAML

    from adapters.slack.factory import render_app_manifest

    data: dict[str, Any] = YAML(typ="safe").load(render_app_manifest(None))
    return data


def installed_scopes() -> frozenset[str]:
    """The bot token's scopes once the app is installed from our app manifest."""
    return frozenset(app_manifest()["oauth_config"]["scopes"]["bot"])


def sign(body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends: v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def tenant_manifest() -> Manifest:
    return Manifest.model_validate({
        "platforms": {"slack": {"mode": "http"}},
        "tenants": [{
            "id": TENANT, "name": "テスト市", "collections": ["laws"],
            "channels": [
                {"platform": "slack", "id": SOUMU_CHANNEL, "name": "#総務課", "collections": ["laws"]}
            ],
        }],
    })


@pytest.fixture(scope="session")
def kb_dir(tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path) -> Path:
    """A knowledge base holding only 行政手続法 (e-Gov XML), built once per session."""
    return law_kb(tmp_path_factory.mktemp("slack-kb"), shared_corpus / GYOSEI_TETSUZUKI_XML)


@pytest.fixture(scope="session")
def searcher(kb_dir: Path) -> Searcher:
    from kairan.wiring import open_searcher

    return open_searcher(kb_dir)


@pytest.fixture
def audit(db: Database) -> AuditLog:
    return AuditLog(db, salt="test-salt")


@pytest.fixture
def engine(searcher: Searcher, db: Database, audit: AuditLog) -> AnswerEngine:
    return AnswerEngine(
        searcher=searcher, threads=ThreadStore(db), audit=audit, settings=EngineSettings(rewrite=False)
    )


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(scopes=installed_scopes()) as fake:  # Slack refuses what the manifest does not grant
        yield fake


@dataclass
class Running:
    adapter: SlackAdapter
    url: str
    session: aiohttp.ClientSession

    async def post(self, body: bytes, headers: dict[str, str], content_type: str) -> tuple[int, float, str]:
        """POST to /slack/events; returns status, seconds until the response, response text."""
        start = time.perf_counter()
        async with self.session.post(  # a stream: aiohttp warns of a large body given as bytes
            self.url, data=io.BytesIO(body), headers={**headers, "Content-Type": content_type}
        ) as resp:
            text = await resp.text()
            return resp.status, time.perf_counter() - start, text

    async def event(
        self, payload: dict[str, Any], *, extra_headers: dict[str, str] | None = None,
        timestamp: int | None = None, secret: str = SIGNING_SECRET,
    ) -> tuple[int, float, str]:
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {**sign(body, secret=secret, timestamp=timestamp), **(extra_headers or {})}
        return await self.post(body, headers, "application/json")

    async def interaction(self, payload: dict[str, Any]) -> tuple[int, float, str]:
        from urllib.parse import urlencode

        body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode()
        return await self.post(body, sign(body), "application/x-www-form-urlencoded")


AdapterFactory = Callable[..., SlackAdapter]


@pytest.fixture
def make_adapter(
    engine: AnswerEngine, db: Database, audit: AuditLog, slack: FakeSlack
) -> AdapterFactory:
    """The adapter on the mock Web API; ``overrides`` may replace the lifecycle's parts (engine,
    ledger, inflight, outbox), its settings (FlowSettings fields) and the adapter's own arguments."""

    def build(
        *, engine: Answerer = engine, ledger: EventLedger | None = None, inflight: InFlight | None = None,
        outbox: Outbox | None = None, **overrides: Any,
    ) -> SlackAdapter:
        flow_fields = FlowSettings.__dataclass_fields__
        flow_options = {k: overrides.pop(k) for k in list(overrides) if k in flow_fields}
        lifecycle = Lifecycle(answerer=engine, ledger=ledger or EventLedger(db), inflight=inflight,
                              outbox=outbox, settings=FlowSettings(**flow_options))
        kwargs: dict[str, Any] = {
            "lifecycle": lifecycle, "feedback": FeedbackStore(db), "audit": audit,
            "manifest": tenant_manifest(), "bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET,
            "mode": "http", "api_url": slack.api_url, "streaming": False,
        }
        kwargs.update(overrides)
        return SlackAdapter(**kwargs)

    return build


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[SlackAdapter], Any]]:
    """Start an adapter and an aiohttp server with its routes on 127.0.0.1; stopped at teardown."""
    started: list[tuple[SlackAdapter, web.AppRunner]] = []
    session = aiohttp.ClientSession()

    async def run(adapter: SlackAdapter) -> Running:
        await adapter.start()
        app = web.Application()
        app.add_routes(adapter.routes())
        runner, port = await serve_locally(app)
        started.append((adapter, runner))
        return Running(adapter, f"http://127.0.0.1:{port}/slack/events", session)

    yield run
    for adapter, runner in started:
        await adapter.stop()
        await runner.cleanup()
    await session.close()
