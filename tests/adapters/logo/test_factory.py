from __future__ import annotations

from pathlib import Path

import pytest

from adapters.logo.factory import build_logo_adapter
from bot.models import Answer
from bot.state.db import Database
from bot.state.inflight import InFlight
from manifest.schema import LOGO_API_VERSION, Manifest
from manifest.scope import Scope, scope_for
from manifest.secrets import MissingSecret
from tests.adapters.logo.conftest import manifest_data
from tests.fakes.engines import FixedAnswerEngine
from tests.fakes.runtime import platform_runtime

ENGINE = FixedAnswerEngine(Answer(text="x", citations=(), abstained=False))


def test_no_adapter_without_platforms_logo(db: Database) -> None:
    assert build_logo_adapter(platform_runtime(Manifest(), db, ENGINE, environ={})) is None


def test_adapter_takes_its_settings_from_the_manifest(db: Database) -> None:
    manifest = Manifest.model_validate(manifest_data(
        url="wss://logochat.example.lg.jp/api/", api_version="1.91", token_env="MY_LOGO_TOKEN",
        proxy="http://proxy.example.lg.jp:8080", max_message_length=500, send_interval_s=1.5,
        answer_bots=True, default_tenant="yokosuka",
    ))
    adapter = build_logo_adapter(platform_runtime(manifest, db, ENGINE, environ={"MY_LOGO_TOKEN": "tok"}))
    assert adapter is not None and adapter.name == "logo"
    client = adapter.client
    assert (client.url, client.api_version, client.proxy) == (
        "wss://logochat.example.lg.jp/api", "1.91", "http://proxy.example.lg.jp:8080"
    )
    assert (client.send_interval, client.ssl_context) == (1.5, None)
    assert adapter.max_message_length == 500
    assert adapter.answer_bots is True
    assert scope_for(adapter.manifest, "logo", ["a 1:1 talk"]) == Scope("yokosuka", ("laws",))
    inflight = adapter.flow.inflight
    assert isinstance(inflight, InFlight) and inflight.db is db  # resumed by a replica
    assert not adapter.connected()


def test_missing_token_variable(db: Database) -> None:
    manifest = Manifest.model_validate(manifest_data())
    with pytest.raises(MissingSecret, match="environment variable LOGO_TOKEN is not set"):
        build_logo_adapter(platform_runtime(manifest, db, ENGINE, environ={}))


def test_unknown_default_tenant_and_missing_ca_file(db: Database, tmp_path: Path) -> None:
    env = {"LOGO_TOKEN": "tok"}
    manifest = Manifest.model_validate(manifest_data(default_tenant="kamakura"))
    with pytest.raises(ValueError, match=r"platforms.logo.default_tenant: no tenant with id 'kamakura'"):
        build_logo_adapter(platform_runtime(manifest, db, ENGINE, environ=env))
    manifest = Manifest.model_validate(manifest_data(ca_file=str(tmp_path / "missing.pem")))
    with pytest.raises(ValueError, match=r"platforms\.logo\.ca_file: no such file"):
        build_logo_adapter(platform_runtime(manifest, db, ENGINE, environ=env))


def test_logo_url_must_be_a_websocket_url() -> None:
    with pytest.raises(ValueError, match=r"must be a ws\(s\):// URL"):
        Manifest.model_validate(manifest_data(url="https://logochat.example.lg.jp/api"))


def test_without_api_version_the_client_sends_the_official_clients(db: Database) -> None:
    manifest = Manifest.model_validate(manifest_data(default_tenant="yokosuka"))
    assert manifest.platforms.logo is not None and manifest.platforms.logo.api_version == LOGO_API_VERSION
    adapter = build_logo_adapter(platform_runtime(manifest, db, ENGINE, environ={"LOGO_TOKEN": "tok"}))
    assert adapter is not None and adapter.client.api_version == LOGO_API_VERSION == "1.122"


def test_the_api_version_is_written_in_one_place() -> None:
    """manifest/schema.py holds it (LOGO_API_VERSION); the client, login and the CLI refer to it. The
    JSON Schema generated from the model repeats it as the default."""
    root = Path(__file__).resolve().parents[3]
    places = [
        str(path.relative_to(root))
        for folder in ("adapters", "bot", "kairan", "manifest", "knowledge")
        for path in sorted((root / folder).rglob("*"))
        if path.suffix in {".py", ".yaml", ".json"} and path.name != "kairan.schema.json"
        and '"1.122"' in path.read_text(encoding="utf-8")
    ]
    assert places == ["manifest/schema.py"]
