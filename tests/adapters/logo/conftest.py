from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from adapters.logo.adapter import LogoAdapter
from adapters.logo.client import LogoClient
from bot.flow.lifecycle import FlowSettings, Lifecycle
from bot.ports import Answerer
from bot.state.db import Database
from bot.state.events import EventLedger
from bot.state.inflight import InFlight
from bot.state.outbox import Outbox
from manifest.schema import Manifest
from tests.fakes.knowledge_base import law_kb
from tests.fakes.logo_server import GROUP_TALK, LogoFakeServer

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus"
LOCAL_AUTONOMY_ACT = SHARED / "egov_html" / "322AC0000000067_20250601_504AC0000000068.html"


def manifest_data(**logo: Any) -> dict[str, Any]:
    return {
        "platforms": {"logo": {"url": "ws://127.0.0.1:9/api", **logo}},
        "tenants": [
            {
                "id": "yokosuka",
                "name": "横須賀市",
                "collections": ["laws"],
                "channels": [{"platform": "logo", "id": str(GROUP_TALK), "name": "福祉部"}],
            }
        ],
    }


@pytest.fixture
def manifest() -> Manifest:
    return Manifest.model_validate(manifest_data(default_tenant="yokosuka"))


@pytest.fixture
async def server() -> AsyncIterator[LogoFakeServer]:
    async with LogoFakeServer() as fake:
        yield fake


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A knowledge base holding only 地方自治法 (real e-Gov HTML), built once per module."""
    return law_kb(tmp_path_factory.mktemp("logo-kb"), LOCAL_AUTONOMY_ACT)


@pytest.fixture(scope="module")
def real_engine(kb_dir: Path) -> Answerer:
    from bot.engine import AnswerEngine
    from kairan.wiring import open_searcher

    return AnswerEngine(searcher=open_searcher(kb_dir))


def make_client(server: LogoFakeServer, **overrides: Any) -> LogoClient:
    options: dict[str, Any] = {
        "url": server.url,
        "token": server.token,
        "ping_interval": 5.0,
        "reconnect_initial": 0.05,
        "reconnect_max": 0.2,
        "call_timeout": 5.0,
        "send_interval": 0.02,
        "read_delay": 0.05,
    }
    options.update(overrides)
    return LogoClient(**options)


@asynccontextmanager
async def client_for(server: LogoFakeServer, **overrides: Any) -> AsyncIterator[LogoClient]:
    """A client made by ``make_client`` (not started), stopped after the block whatever happens."""
    client = make_client(server, **overrides)
    try:
        yield client
    finally:
        await client.stop()


def make_adapter(
    server: LogoFakeServer,
    *,
    engine: Answerer,
    db: Database,
    manifest: Manifest,
    outbox: Outbox | None = None,
    inflight: InFlight | None = None,
    **overrides: Any,
) -> LogoAdapter:
    """The adapter on the fake server; ``overrides`` set client options (send_interval, backfill, token,
    reconnect_initial), the lifecycle's settings (FlowSettings fields) and the adapter's own."""
    client_keys = {"send_interval", "backfill", "token", "reconnect_initial"}
    client_options = {k: overrides.pop(k) for k in list(overrides) if k in client_keys}
    flow_options = {k: overrides.pop(k) for k in list(overrides) if k in FlowSettings.__dataclass_fields__}
    lifecycle = Lifecycle(answerer=engine, ledger=EventLedger(db), inflight=inflight, outbox=outbox,
                          settings=FlowSettings(**flow_options))
    return LogoAdapter(
        client=make_client(server, **client_options),
        manifest=manifest,
        lifecycle=lifecycle,
        start_timeout=5.0,
        **overrides,
    )


@asynccontextmanager
async def running(adapter: LogoAdapter) -> AsyncIterator[LogoAdapter]:
    """The adapter connected for the block, stopped after it whatever happens."""
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()
