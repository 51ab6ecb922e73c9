"""``kairan serve``: the real aiohttp app over the corpus knowledge base with a temporary state DB."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError

from bot.models import Answer, ConversationRef, Digest
from bot.state.outbox import Outbox
from kairan.cli import cli
from kairan.console import CSRF_MESSAGE, DISABLED_MESSAGE, TOKEN_MESSAGE
from kairan.logging import configure_logging
from kairan.serve import Services, build_app, build_services, console_banner, start_own_listeners
from kairan.wiring import KnowledgeConfig
from manifest.schema import Manifest
from tests.fakes.local_http import free_port

REPO = Path(__file__).resolve().parents[2]
API = {"X-Kairan-Console": "1"}
QUESTION = "自治法238条の4"
UNANSWERABLE = "宇宙ステーションで猫を飼う許可の申請先は？"
E_GOV_238_4 = "https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4"


def config_for(data_dir: Path, state_dir: Path, **extra: Any) -> KnowledgeConfig:
    manifest = Manifest.model_validate({"state": {"url": f"sqlite:///{state_dir / 'state.db'}"}, **extra})
    return KnowledgeConfig(manifest=manifest, data_dir=data_dir)


@pytest.fixture
def services(corpus_data_dir: Path, tmp_path: Path) -> Iterator[Services]:
    built = build_services(config_for(corpus_data_dir, tmp_path / "state"), environ={})
    yield built
    built.db.close()


async def client_for(
    services: Services, *, host: str = "127.0.0.1", environ: Mapping[str, str] | None = None
) -> TestClient[Any, Any]:
    app = build_app(services, host=host, environ=environ or {})
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def client(services: Services) -> AsyncIterator[TestClient[Any, Any]]:
    c = await client_for(services)
    yield c
    await c.close()


# -- health, readiness ------------------------------------------------------------------------
async def test_healthz_and_root(client: TestClient[Any, Any]) -> None:
    r = await client.get("/healthz")
    assert r.status == 200 and await r.text() == "ok"
    r = await client.get("/", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/console"


async def test_readyz_follows_the_state_db(client: TestClient[Any, Any], tmp_path: Path) -> None:
    r = await client.get("/readyz")
    assert r.status == 200
    assert await r.json() == {"index": "ok", "state": "ok", "adapters": {}}

    (tmp_path / "state").rename(tmp_path / "state-away")  # the DB file's directory disappears
    r = await client.get("/readyz")
    assert r.status == 503
    assert await r.json() == {"index": "ok", "state": "unavailable", "adapters": {}, "failed": ["state"]}
    assert (await client.get("/healthz")).status == 200  # alive, just not ready

    (tmp_path / "state-away").rename(tmp_path / "state")
    r = await client.get("/readyz")
    assert r.status == 200 and (await r.json())["state"] == "ok"


async def test_readyz_fails_when_the_database_cannot_be_opened(services: Services, tmp_path: Path) -> None:
    services.db.close()  # drop pooled connections, then make the file unopenable
    (tmp_path / "state" / "state.db").unlink()
    (tmp_path / "state" / "state.db").mkdir()
    client = await client_for(services)
    try:
        r = await client.get("/readyz")
        assert r.status == 503 and (await r.json())["failed"] == ["state"]
    finally:
        await client.close()


class FakeAdapter:
    name = "fake"

    def __init__(self) -> None:
        self.up = False
        self.stopped = 0

    async def start(self) -> None:
        self.up = True

    async def stop(self) -> None:
        self.up = False
        self.stopped += 1

    def connected(self) -> bool:
        return self.up

    async def send(self, ref: ConversationRef, reply: Answer | Digest) -> None:
        raise AssertionError("not used")


async def test_readyz_names_a_disconnected_adapter_and_stop_stops_it(services: Services) -> None:
    adapter = FakeAdapter()
    services.adapters.append(adapter)
    client = await client_for(services)
    try:
        r = await client.get("/readyz")
        assert r.status == 503
        assert await r.json() == {
            "index": "ok",
            "state": "ok",
            "adapters": {"fake": "disconnected"},
            "failed": ["adapters.fake"],
        }
        await adapter.start()
        r = await client.get("/readyz")
        assert r.status == 200 and (await r.json())["adapters"] == {"fake": "ok"}
    finally:
        await client.close()
    await services.stop()
    assert adapter.stopped == 1 and not adapter.connected()


async def test_readyz_fails_on_an_empty_index(tmp_path: Path) -> None:
    from knowledge.store import KnowledgeStore

    empty = build_services(config_for(tmp_path / "kb", tmp_path / "state"), environ={})
    assert isinstance(empty.store, KnowledgeStore)
    client = await client_for(empty)
    try:
        r = await client.get("/readyz")
        assert r.status == 503
        assert await r.json() == {"index": "unavailable", "state": "ok", "adapters": {}, "failed": ["index"]}
    finally:
        await client.close()
        empty.db.close()


# -- metrics ----------------------------------------------------------------------------------
_SAMPLE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)\})? (?P<value>[-+]?(?:[0-9.eE+-]+|Inf|NaN))$'
)


def parse_prometheus(body: str) -> tuple[dict[str, str], dict[str, float]]:
    """(TYPE per family, value per sample 'name{labels}'); fails on any line not in format 0.0.4."""
    types: dict[str, str] = {}
    samples: dict[str, float] = {}
    assert body.endswith("\n")
    for line in body.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped") and name not in types
            types[name] = kind
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        name = match["name"]
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"{name} has no TYPE line before it"
        key = f"{name}{{{match['labels']}}}" if match["labels"] else name
        assert key not in samples, f"duplicate sample {key}"
        samples[key] = float(match["value"])
    return types, samples


async def test_metrics_count_a_console_question(client: TestClient[Any, Any]) -> None:
    r = await client.post("/console/api/ask", json={"question": QUESTION}, headers=API)
    assert r.status == 200
    r = await client.get("/metrics")
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    types, samples = parse_prometheus(await r.text())
    assert types == {
        "kairan_questions_total": "counter",
        "kairan_abstentions_total": "counter",
        "kairan_answer_seconds": "histogram",
        "kairan_llm_tokens_total": "counter",
        "kairan_digest_posts_total": "counter",
        "kairan_errors_total": "counter",
        "kairan_outbox_pending": "gauge",
        "kairan_inquiries_opened_total": "counter",
        "kairan_inquiries_answered_total": "counter",
        "kairan_inquiry_answer_seconds": "histogram",
        "kairan_inquiries_open": "gauge",
    }
    assert samples['kairan_questions_total{tenant="local",platform="console"}'] == 1
    assert samples["kairan_answer_seconds_count"] == 1
    assert samples['kairan_answer_seconds_bucket{le="+Inf"}'] == 1
    assert 0 < samples["kairan_answer_seconds_sum"] < 60
    assert samples["kairan_digest_posts_total"] == 0
    assert not any(k.startswith("kairan_abstentions_total{") for k in samples)  # it answered

    await client.post("/console/api/ask", json={"question": UNANSWERABLE}, headers=API)
    _, samples = parse_prometheus(await (await client.get("/metrics")).text())
    assert samples['kairan_questions_total{tenant="local",platform="console"}'] == 2
    assert samples['kairan_abstentions_total{tenant="local",platform="console"}'] == 1


async def test_metrics_show_the_pending_outbox_entries_per_platform(
    services: Services, client: TestClient[Any, Any]
) -> None:
    async def pending() -> dict[str, float]:
        _, samples = parse_prometheus(await (await client.get("/metrics")).text())
        return {k: v for k, v in samples.items() if k.startswith("kairan_outbox_pending")}

    assert await pending() == {
        'kairan_outbox_pending{platform="slack"}': 0,
        'kairan_outbox_pending{platform="teams"}': 0,
        'kairan_outbox_pending{platform="logo"}': 0,
    }
    outbox = Outbox(services.db)
    for n in range(3):
        assert outbox.add("teams", f"activity-{n}", "19:x@thread.tacv2", None, [{"text": "回答"}])
    assert outbox.add("slack", "Ev1", "C1", "1.0", [{"text": "回答"}])
    assert await pending() == {
        'kairan_outbox_pending{platform="slack"}': 1,
        'kairan_outbox_pending{platform="teams"}': 3,
        'kairan_outbox_pending{platform="logo"}': 0,
    }
    [entry, *_] = outbox.take_due("teams")
    outbox.delivered(entry)  # read at scrape time: a posted entry no longer counts
    assert (await pending())['kairan_outbox_pending{platform="teams"}'] == 2


async def test_metrics_still_answer_when_the_outbox_cannot_be_read(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unavailable(self: Outbox, platform: str) -> int:
        raise OperationalError("SELECT count(*) FROM outbox", {}, Exception("database is locked"))

    monkeypatch.setattr(Outbox, "pending", unavailable)
    with caplog.at_level(logging.WARNING):
        r = await client.get("/metrics")
    assert r.status == 200
    types, samples = parse_prometheus(await r.text())
    assert types["kairan_outbox_pending"] == "gauge"  # HELP/TYPE still there, no made-up samples
    assert not any(k.startswith("kairan_outbox_pending") for k in samples)
    [line] = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert line == "metrics: reading the outbox from the state DB failed: OperationalError"


# -- console API ------------------------------------------------------------------------------
async def test_console_api_answers_with_citations(client: TestClient[Any, Any]) -> None:
    r = await client.post("/console/api/ask", json={"question": QUESTION, "thread": "t-1"}, headers=API)
    assert r.status == 200
    data = await r.json()
    assert set(data) == {
        "answer",
        "abstained",
        "extractive",
        "citations",
        "warnings",
        "inquiry_draft",
        "usage",
        "audit_id",
    }
    assert data["abstained"] is False and data["extractive"] is True
    first = data["citations"][0]
    assert (first["n"], first["doc_id"], first["article"], first["url"]) == (
        1,
        "322AC0000000067",
        "238_4",
        E_GOV_238_4,
    )
    assert first["verified"] is True
    assert "[1]" in data["answer"]
    assert data["usage"] == {
        "provider": "none",
        "model": "extractive",
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
    }
    assert re.fullmatch(r"[0-9a-f-]{8,}", data["audit_id"])


async def test_console_api_abstains_with_an_inquiry_draft(client: TestClient[Any, Any]) -> None:
    r = await client.post("/console/api/ask", json={"question": UNANSWERABLE}, headers=API)
    data = await r.json()
    assert data["abstained"] is True and data["citations"] == []
    assert "照会" in data["inquiry_draft"] and "宇宙ステーション" in data["inquiry_draft"]


async def test_console_stream_sends_the_answer_as_server_sent_events(client: TestClient[Any, Any]) -> None:
    r = await client.post("/console/api/stream", json={"question": QUESTION}, headers=API)
    assert r.status == 200 and r.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    blocks = [b for b in (await r.text()).split("\n\n") if b]
    event, data = blocks[-1].split("\n")
    assert event == "event: answer"
    assert json.loads(data.removeprefix("data: "))["citations"][0]["url"] == E_GOV_238_4


async def test_console_rejects_bad_requests(client: TestClient[Any, Any]) -> None:
    r = await client.post("/console/api/ask", json={"question": QUESTION})
    assert r.status == 403 and (await r.json())["error"] == CSRF_MESSAGE
    r = await client.post("/console/api/ask", json={"question": "  "}, headers=API)
    assert r.status == 400 and "question" in (await r.json())["error"]
    r = await client.post("/console/api/ask", data="not json", headers=API)
    assert r.status == 400 and (await r.json())["error"] == "本文が JSON ではありません。"
    r = await client.post("/console/api/ask", json={"question": "あ" * 2001}, headers=API)
    assert r.status == 400 and "2000" in (await r.json())["error"]
    r = await client.get("/console/static/../serve.py")
    assert r.status == 404


async def test_console_page_is_local_japanese_html(client: TestClient[Any, Any]) -> None:
    r = await client.get("/console")
    assert r.status == 200
    html = await r.text()
    assert '<html lang="ja">' in html and "質問する" in html
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    srcs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert srcs == ["/console/static/app.css", "/console/static/app.js"]  # nothing from a CDN
    for src in srcs:
        assert (await client.get(src)).status == 200


async def test_console_off_localhost_needs_the_token(services: Services) -> None:
    # Bound to every interface: even a loopback caller may be a proxy, so the token is required.
    no_token = await client_for(services, host="0.0.0.0", environ={})
    try:
        r = await no_token.post("/console/api/ask", json={"question": QUESTION}, headers=API)
        assert r.status == 403 and (await r.json())["error"] == DISABLED_MESSAGE
        r = await no_token.get("/console")
        assert r.status == 403 and await r.text() == DISABLED_MESSAGE
    finally:
        await no_token.close()

    with_token = await client_for(services, host="0.0.0.0", environ={"KAIRAN_CONSOLE_TOKEN": "tok-12345"})
    try:
        assert (await with_token.get("/console")).status == 200
        r = await with_token.post("/console/api/ask", json={"question": QUESTION}, headers=API)
        assert r.status == 403 and (await r.json())["error"] == TOKEN_MESSAGE
        wrong = {**API, "Authorization": "Bearer tok-99999"}
        r = await with_token.post("/console/api/ask", json={"question": QUESTION}, headers=wrong)
        assert r.status == 403
        right = {**API, "Authorization": "Bearer tok-12345"}
        r = await with_token.post("/console/api/ask", json={"question": QUESTION}, headers=right)
        assert r.status == 200 and (await r.json())["citations"][0]["url"] == E_GOV_238_4
        no_csrf = {"Authorization": "Bearer tok-12345"}
        r = await with_token.post("/console/api/ask", json={"question": QUESTION}, headers=no_csrf)
        assert r.status == 403 and (await r.json())["error"] == CSRF_MESSAGE
    finally:
        await with_token.close()


async def test_console_uses_the_manifest_console_channel(corpus_data_dir: Path, tmp_path: Path) -> None:
    config = config_for(
        corpus_data_dir,
        tmp_path / "state",
        tenants=[
            {
                "id": "yokosuka",
                "name": "横須賀市",
                "channels": [{"platform": "console", "id": "console", "collections": ["laws"]}],
            }
        ],
    )
    built = build_services(config, environ={})
    client = await client_for(built)
    try:
        await client.post("/console/api/ask", json={"question": QUESTION}, headers=API)
        _, samples = parse_prometheus(await (await client.get("/metrics")).text())
        assert samples['kairan_questions_total{tenant="yokosuka",platform="console"}'] == 1
    finally:
        await client.close()
        built.db.close()


async def test_console_without_a_tenant_of_several_is_refused_with_the_fix(
    corpus_data_dir: Path, tmp_path: Path
) -> None:
    """Two tenants and no console channel: whose collections and budget? The console says what to set."""
    config = config_for(
        corpus_data_dir,
        tmp_path / "state",
        tenants=[{"id": "yokosuka", "name": "横須賀市"}, {"id": "zushi", "name": "逗子市"}],
    )
    built = build_services(config, environ={})
    client = await client_for(built)
    try:
        response = await client.post("/console/api/ask", json={"question": QUESTION}, headers=API)
        assert response.status == 403
        assert "unlisted.tenant" in (await response.json())["error"]
    finally:
        await client.close()
        built.db.close()


# -- logs -------------------------------------------------------------------------------------
@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(
        level="INFO",
        secret_env_names=["TEST_API_KEY"],
        environ={"TEST_API_KEY": "zz-secret-value-42"},
        stream=stream,
    )
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


async def test_json_logs_have_request_ids_and_no_question_or_secret(
    client: TestClient[Any, Any], json_logs: io.StringIO
) -> None:
    r = await client.post(
        "/console/api/ask", json={"question": QUESTION}, headers={**API, "X-Request-Id": "req-abc-1"}
    )
    assert r.status == 200 and r.headers["X-Request-Id"] == "req-abc-1"
    try:
        raise RuntimeError("connect failed with key zz-secret-value-42")
    except RuntimeError:
        logging.getLogger("kairan.test").exception("provider said zz-secret-value-42")
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    mine = [e for e in lines if e["request_id"] == "req-abc-1"]
    assert [e["message"] for e in mine] == ["console question received", "POST /console/api/ask 200"]
    assert mine[0]["chars"] == len(QUESTION) and mine[1]["status"] == 200
    assert {"time", "level", "logger", "message", "request_id"} <= set(mine[0])
    assert QUESTION not in json_logs.getvalue()
    failure = lines[-1]
    assert failure["message"] == "provider said ***" and failure["level"] == "ERROR"
    assert "RuntimeError: connect failed with key ***" in failure["exception"]
    assert "zz-secret-value-42" not in json_logs.getvalue()


# -- the CLI and the container image ----------------------------------------------------------
def test_serve_command_runs_and_stops_on_sigterm(corpus_data_dir: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "kairan.yaml"
    manifest.write_text(
        f"data_dir: {corpus_data_dir}\nstate:\n  url: sqlite:///{tmp_path / 'state.db'}\n", encoding="utf-8"
    )
    port = free_port()
    kairan = Path(sys.executable).with_name("kairan")
    proc = subprocess.Popen(
        [str(kairan), "serve", "--manifest", str(manifest), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "KAIRAN_CONSOLE_TOKEN": ""},
    )
    try:
        assert proc.stderr is not None
        banner = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "ブラウザで" not in banner:
            banner = proc.stderr.readline()
            assert banner or proc.poll() is None, "kairan serve exited early"
        assert banner.strip() == f"ブラウザで http://127.0.0.1:{port}/console を開いてください"

        async def probe() -> tuple[int, str]:
            async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as r:
                return r.status, await r.text()

        assert asyncio.run(probe()) == (200, "ok")
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    messages = [json.loads(line)["message"] for line in rest.splitlines() if line.startswith("{")]
    assert messages[-2:] == ["shutting down", "stopped"]


def dockerfile_instruction(name: str) -> list[str]:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    found = re.findall(rf"^{name}\s+(.+)$", text, flags=re.MULTILINE)
    assert len(found) == 1, f"expected one {name} in the Dockerfile, found {found}"
    value = json.loads(found[0])
    assert isinstance(value, list) and all(isinstance(v, str) for v in value)
    return value


def test_dockerfile_runs_a_real_cli_command() -> None:
    entrypoint, cmd = dockerfile_instruction("ENTRYPOINT"), dockerfile_instruction("CMD")
    assert entrypoint == ["kairan"]
    assert cmd[0] == "serve" and cmd[cmd.index("--host") + 1] == "0.0.0.0"
    result = CliRunner().invoke(cli, [*cmd, "--help"])
    assert result.exit_code == 0, result.output
    assert "--port" in result.output
    # The installed console script, as the image's ENTRYPOINT runs it.
    run = subprocess.run(
        [str(Path(sys.executable).with_name(entrypoint[0])), *cmd, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr


def test_dockerfile_is_multistage_nonroot_with_a_healthcheck() -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    froms = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, flags=re.MULTILINE)
    assert len(froms) == 2 and froms[-1][0] == "python:3.11-slim"
    user = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^ARG WITH_EMBEDDINGS=false$", text, flags=re.MULTILINE)
    health = re.search(r"^HEALTHCHECK .*CMD (.+)$", text, flags=re.MULTILINE)
    assert health is not None
    command = json.loads(health.group(1))
    assert command[:2] == ["python", "-c"] and "/healthz" in command[2] and "curl" not in text
    # The healthcheck's Python is runnable as written: it fails cleanly when nothing listens.
    port = free_port()
    probe = command[2].replace("8080", str(port))
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=30)
    assert run.returncode == 1, shlex.join(command)


def test_console_banner() -> None:
    assert console_banner("0.0.0.0", 8080) == "ブラウザで http://127.0.0.1:8080/console を開いてください"
    assert console_banner("::1", 9000) == "ブラウザで http://[::1]:9000/console を開いてください"


# -- chat adapters --------------------------------------------------------------------------------
async def test_env_only_slack_is_served_at_slack_events(corpus_data_dir: Path, tmp_path: Path) -> None:
    """With only the Slack variables set (no Slack block in a manifest), serve mounts /slack/events."""
    environ = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret", "SLACK_MODE": "http"}
    services = build_services(config_for(corpus_data_dir, tmp_path / "state"), environ=environ)
    try:
        assert [a.name for a in services.adapters] == ["slack"]
        client = await client_for(services, environ=environ)
        try:
            unsigned = await client.post("/slack/events", json={"type": "url_verification", "challenge": "x"})
            assert unsigned.status in {401, 503}  # never answered without a valid signature
            ready = await client.get("/readyz")
            assert ready.status == 503 and "slack" in await ready.text()  # not started: not connected
        finally:
            await client.close()
    finally:
        services.db.close()


TEAMS_ENV = {"TEAMS_APP_ID": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "TEAMS_APP_PASSWORD": "not-used"}


def teams_config(corpus_data_dir: Path, tmp_path: Path, **teams: Any) -> KnowledgeConfig:
    return config_for(corpus_data_dir, tmp_path / "state", platforms={"teams": teams})


async def test_teams_is_mounted_on_the_main_app(corpus_data_dir: Path, tmp_path: Path) -> None:
    """/api/messages on serve's own port, behind the SDK's JWT check (before, Teams ran a server of
    its own on 0.0.0.0:3978 whatever --host said, and kairan digest run failed beside serve)."""
    services = build_services(teams_config(corpus_data_dir, tmp_path), environ=TEAMS_ENV)
    try:
        assert [a.name for a in services.adapters] == ["teams"]
        client = await client_for(services, environ=TEAMS_ENV)
        try:
            unsigned = await client.post("/api/messages", json={"type": "message", "text": "質問"})
            assert unsigned.status == 401  # the SDK's JWT middleware refuses a request without a token
            assert (await client.get("/healthz")).status == 200
        finally:
            await client.close()
    finally:
        services.db.close()


async def test_teams_on_a_port_of_its_own_when_the_manifest_names_one(
    corpus_data_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    services = build_services(teams_config(corpus_data_dir, tmp_path, port=port), environ=TEAMS_ENV)
    client = await client_for(services, environ=TEAMS_ENV)
    runners = await start_own_listeners(services.adapters, "127.0.0.1")
    try:
        assert (await client.post("/api/messages", json={})).status == 404  # not on the main app
        async with aiohttp.ClientSession() as http, http.post(
            f"http://127.0.0.1:{port}/api/messages", json={"type": "message"}
        ) as response:
            assert response.status == 401
    finally:
        for runner in runners:
            await runner.cleanup()
        await client.close()
        services.db.close()


def test_manifest_slack_prints_the_app_manifest() -> None:
    from click.testing import CliRunner

    from kairan.cli import cli

    result = CliRunner().invoke(cli, ["manifest", "slack", "--name", "回覧ボット"])
    assert result.exit_code == 0, result.output
    assert "app_mentions:read" in result.stdout and "回覧ボット" in result.stdout
    http = CliRunner().invoke(cli, ["manifest", "slack", "--mode", "http"])
    assert http.exit_code == 1 and "/slack/events" in http.output


async def test_console_previews_the_next_digest_without_posting(services: Services) -> None:
    from types import SimpleNamespace

    from bot.models import Digest, DigestItem

    calls: list[tuple[str, bool]] = []

    class DryRunner:
        async def run(self, subscription: str, *, dry_run: bool = False) -> SimpleNamespace:
            calls.append((subscription, dry_run))
            item = DigestItem(
                title="地方自治法施行令の一部を改正する政令の施行について（通知）",
                url="https://www.soumu.go.jp/main_content/000000001.pdf",
                summary="契約に関する規定が改正されました。",
                published="2026-11-27",
                source="soumu",
            )
            return SimpleNamespace(digest=Digest(subscription=subscription, items=(item,)), waiting=3)

    services.scheduler = SimpleNamespace(runner=DryRunner(), subscriptions=[SimpleNamespace(id="weekday")])
    client = await client_for(services)
    try:
        headers = {"X-Kairan-Console": "1"}
        listed = await client.get("/console/api/digests", headers=headers)
        assert (await listed.json()) == {"subscriptions": ["weekday"]}
        preview = await client.post(
            "/console/api/digest-preview", json={"subscription": "weekday"}, headers=headers
        )
        body = await preview.json()
        assert preview.status == 200 and body["items"] == 1
        assert "地方自治法施行令の一部を改正する政令" in body["text"] and "soumu.go.jp" in body["text"]
        assert "ほか3件は次回以降の配信に回ります" in body["text"]  # what the post would leave for later
        assert calls == [("weekday", True)]  # a dry run: nothing posted
        unknown = await client.post(
            "/console/api/digest-preview", json={"subscription": "x"}, headers=headers
        )
        assert unknown.status == 404
        no_csrf = await client.get("/console/api/digests")
        assert no_csrf.status == 403
    finally:
        await client.close()
