"""build_slack_adapter (manifest or environment only) and the Slack app manifest."""

from __future__ import annotations

import ast
import copy
import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from ruamel.yaml import YAML
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.app import (
    BOT_EVENTS,
    BOT_SCOPES,
    EVENT_SCOPES,
    METHOD_SCOPES,
    SlackAdapter,
    SlackConfigError,
)
from adapters.slack.factory import build_slack_adapter, render_app_manifest
from bot.engine import AnswerEngine
from bot.state.db import Database
from manifest.schema import Manifest
from manifest.secrets import MissingSecret
from tests.adapters.slack.conftest import FIXTURES
from tests.fakes.runtime import platform_runtime

ADAPTER_DIR = Path(__file__).resolve().parents[3] / "adapters" / "slack"

ENV_HTTP = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s3cret"}
ENV_SOCKET = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}


def slack_manifest(**slack: object) -> Manifest:
    return Manifest.model_validate({"platforms": {"slack": slack}})


def test_no_slack_configuration_means_no_adapter(engine: AnswerEngine, db: Database) -> None:
    assert build_slack_adapter(platform_runtime(None, db, engine, environ={})) is None
    only_app_token = {"SLACK_APP_TOKEN": "xapp-1"}
    assert build_slack_adapter(platform_runtime(Manifest(), db, engine, environ=only_app_token)) is None


@pytest.mark.parametrize(
    ("environ", "mode"),
    [(ENV_HTTP, "http"), (ENV_SOCKET, "socket"), (ENV_HTTP | ENV_SOCKET, "socket"),
     (ENV_HTTP | ENV_SOCKET | {"SLACK_MODE": "http"}, "http")],
)
def test_environment_only_single_tenant_bot(
    environ: dict[str, str], mode: str, engine: AnswerEngine, db: Database
) -> None:
    environ = environ | {"SLACK_API_URL": "http://127.0.0.1:9/api/"}
    adapter = build_slack_adapter(platform_runtime(None, db, engine, environ=environ, audit=engine.audit))
    assert isinstance(adapter, SlackAdapter)
    assert adapter.mode == mode
    assert adapter.client.base_url == "http://127.0.0.1:9/api/"
    assert adapter.client.token == "xoxb-1"
    assert adapter.audit is engine.audit
    assert adapter.streaming is False


def test_environment_only_setup_must_be_complete(engine: AnswerEngine, db: Database) -> None:
    with pytest.raises(SlackConfigError, match="neither SLACK_APP_TOKEN"):
        build_slack_adapter(platform_runtime(None, db, engine, environ={"SLACK_BOT_TOKEN": "xoxb-1"}))
    with pytest.raises(SlackConfigError, match="SLACK_APP_TOKEN"):
        build_slack_adapter(platform_runtime(None, db, engine, environ=ENV_HTTP | {"SLACK_MODE": "socket"}))
    with pytest.raises(SlackConfigError, match="SLACK_MODE must be"):
        build_slack_adapter(platform_runtime(None, db, engine, environ=ENV_HTTP | {"SLACK_MODE": "rtm"}))


def test_manifest_names_the_variables(engine: AnswerEngine, db: Database) -> None:
    manifest = slack_manifest(
        mode="http", bot_token_env="KAIRAN_SLACK_BOT", signing_secret_env="KAIRAN_SLACK_SIG"
    )
    environ = {"KAIRAN_SLACK_BOT": "xoxb-9", "KAIRAN_SLACK_SIG": "sig", "KAIRAN_SLACK_STREAMING": "true"}
    adapter = build_slack_adapter(platform_runtime(manifest, db, engine, environ=environ))
    assert adapter is not None and adapter.mode == "http" and adapter.client.token == "xoxb-9"
    assert adapter.streaming is True
    assert adapter.client.base_url == "https://slack.com/api/"
    missing = r"KAIRAN_SLACK_SIG is not set.*platforms\.slack\.signing_secret_env"
    with pytest.raises(MissingSecret, match=missing):
        build_slack_adapter(platform_runtime(manifest, db, engine, environ={"KAIRAN_SLACK_BOT": "xoxb-9"}))
    socket = slack_manifest(mode="socket")
    with pytest.raises(MissingSecret, match="SLACK_APP_TOKEN"):
        build_slack_adapter(platform_runtime(socket, db, engine, environ={"SLACK_BOT_TOKEN": "xoxb-9"}))


def test_adapter_rejects_inconsistent_settings(engine: AnswerEngine, db: Database) -> None:
    from bot.flow.lifecycle import Lifecycle
    from bot.state.audit import AuditLog
    from bot.state.events import EventLedger
    from bot.state.feedback import FeedbackStore

    common: dict[str, Any] = {
        "lifecycle": Lifecycle(answerer=engine, ledger=EventLedger(db)), "feedback": FeedbackStore(db),
        "audit": AuditLog(db, salt="s"), "manifest": None, "bot_token": "xoxb-1",
    }
    with pytest.raises(SlackConfigError, match="signing secret"):
        SlackAdapter(**common, mode="http")
    with pytest.raises(SlackConfigError, match="app-level token"):
        SlackAdapter(**common, mode="socket", signing_secret="s")


def _load(text: str) -> dict:
    return YAML(typ="safe").load(text)


def sdk_methods(name: str) -> set[str]:
    """The Web API methods slack_sdk's client method ``name`` calls (a chat stream: those it calls)."""
    import slack_sdk.web.async_chat_stream as chat_stream

    owner = next(c for c in (AsyncWebClient, AsyncBaseSocketModeClient) if name in vars(c))
    source = inspect.getsource(getattr(owner, name))
    if "AsyncChatStream(" in source:
        source += inspect.getsource(chat_stream)
    found = set(re.findall(r'api_call\(\s*"([\w.]+)"', source))
    for callee in set(re.findall(r"\.(\w+)\(", source)) - {name}:
        if callee in vars(AsyncWebClient):
            found |= sdk_methods(callee)
    return found


def web_api_calls() -> set[str]:
    """Every Web API method the Slack package calls through slack_sdk (read from its source)."""
    client_methods = {n for c in (AsyncWebClient, AsyncBaseSocketModeClient) for n in vars(c) if n[0] != "_"}
    called: set[str] = set()
    for path in ADAPTER_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            func = node.func if isinstance(node, ast.Call) else None
            if isinstance(func, ast.Attribute) and func.attr in client_methods:
                called |= sdk_methods(func.attr)
    return called


def test_every_web_api_call_is_listed_with_its_scopes() -> None:
    called = web_api_calls()
    some = {"chat.postMessage", "chat.startStream", "conversations.history", "apps.connections.open"}
    assert some <= called  # what the reading finds: plain calls, the chat stream's, Socket Mode's
    assert called == set(METHOD_SCOPES)  # nothing called unlisted, nothing listed that is not called


def test_app_manifest_grants_the_scopes_of_every_call_and_event_in_every_kind_of_conversation() -> None:
    """Issue 18: groups:history was missing, so was_posted failed in private channels."""
    data = _load(render_app_manifest(None))
    granted = set(data["oauth_config"]["scopes"]["bot"])
    assert tuple(data["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES
    assert tuple(data["settings"]["event_subscriptions"]["bot_events"]) == BOT_EVENTS == tuple(EVENT_SCOPES)
    for method in sorted(web_api_calls()):
        assert set(METHOD_SCOPES[method]) <= granted, method
    # Slack's method reference: reading history needs the scope of the conversation's kind.
    kinds = {"channels:history", "groups:history", "im:history", "mpim:history"}
    assert set(METHOD_SCOPES["conversations.history"]) == set(METHOD_SCOPES["conversations.replies"]) == kinds
    assert granted == {s for scopes in (*METHOD_SCOPES.values(), *EVENT_SCOPES.values()) for s in scopes}
    assert data["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in data["settings"]["event_subscriptions"]
    assert data["settings"]["interactivity"] == {"is_enabled": True}
    assert data["features"]["bot_user"]["display_name"] == "kairan"


def manifest_schema_errors(data: dict) -> list[str]:
    """What Slack's own app-manifest JSON schema finds wrong with ``data`` (empty: valid)."""
    schema = json.loads((FIXTURES / "manifest.schema.1.0.0.json").read_text(encoding="utf-8"))
    validator = Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]


@pytest.mark.parametrize("mode", ["socket", "http"])
def test_app_manifest_is_valid_against_slacks_manifest_schema(mode: str) -> None:
    url = "https://kairan.city.example.lg.jp/slack/events" if mode == "http" else None
    data = _load(render_app_manifest(slack_manifest(mode=mode), bot_name="回覧くん", request_url=url))
    assert manifest_schema_errors(data) == []
    # The schema does catch what Slack refuses:
    broken = copy.deepcopy(data)
    broken["display_information"]["long_description"] = "短すぎる説明"
    broken["features"]["bot_user"]["always_online"] = "yes"
    broken["settings"]["unknown_setting"] = True
    errors = manifest_schema_errors(broken)
    assert len(errors) == 3 and any("long_description" in e for e in errors), errors


def test_app_manifest_for_http_mode_has_the_request_urls() -> None:
    url = "https://kairan.city.example.lg.jp/slack/events"
    data = _load(render_app_manifest(slack_manifest(mode="http"), bot_name="回覧くん", request_url=url))
    assert data["display_information"]["name"] == data["features"]["bot_user"]["display_name"] == "回覧くん"
    assert data["settings"]["socket_mode_enabled"] is False
    assert data["settings"]["event_subscriptions"]["request_url"] == url
    assert data["settings"]["interactivity"]["request_url"] == url
    with pytest.raises(ValueError, match="public https URL of /slack/events"):
        render_app_manifest(slack_manifest(mode="http"))
    with pytest.raises(ValueError, match="1-35 characters"):
        render_app_manifest(None, bot_name="")


def test_app_manifest_template_is_valid_yaml_with_a_long_enough_description() -> None:
    template = Path(__file__).resolve().parents[3] / "manifest" / "slack" / "app-manifest.yaml"
    data = _load(template.read_text(encoding="utf-8"))
    assert 175 <= len(data["display_information"]["long_description"]) <= 4000  # Slack's bounds
    assert len(data["display_information"]["description"]) <= 140
