"""Builds the Slack adapter from the manifest (or the environment alone) and renders the app manifest."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from adapters.slack.app import EVENTS_PATH, Mode, SlackAdapter, SlackConfigError
from adapters.spec import PlatformRuntime
from manifest.schema import Manifest
from manifest.secrets import secret_from_env

APP_MANIFEST_TEMPLATE = Path(__file__).resolve().parents[2] / "manifest" / "slack" / "app-manifest.yaml"
API_URL_ENV = "SLACK_API_URL"
STREAMING_ENV = "KAIRAN_SLACK_STREAMING"
MODE_ENV = "SLACK_MODE"
_TRUE = {"1", "true", "yes", "on"}


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def _settings(manifest: Manifest | None, environ: Mapping[str, str]) -> dict[str, Any] | None:
    """Mode and secrets from platforms.slack, else from SLACK_* variables (no Slack block)."""
    cfg = manifest.platforms.slack if manifest is not None else None
    if cfg is not None:
        field = "platforms.slack"
        settings: dict[str, Any] = {
            "mode": cfg.mode,
            "bot_token": secret_from_env(cfg.bot_token_env, field=f"{field}.bot_token_env", environ=environ),
        }
        if cfg.mode == "socket":
            assert cfg.app_token_env is not None  # enforced by SlackConfig
            settings["app_token"] = secret_from_env(
                cfg.app_token_env, field=f"{field}.app_token_env", environ=environ
            )
        else:
            assert cfg.signing_secret_env is not None
            settings["signing_secret"] = secret_from_env(
                cfg.signing_secret_env, field=f"{field}.signing_secret_env", environ=environ
            )
        return settings
    bot_token = _env(environ, "SLACK_BOT_TOKEN")
    if bot_token is None:
        return None
    app_token, secret = _env(environ, "SLACK_APP_TOKEN"), _env(environ, "SLACK_SIGNING_SECRET")
    wanted = _env(environ, MODE_ENV)
    if wanted not in (None, "http", "socket"):
        raise SlackConfigError(f"{MODE_ENV} must be 'http' or 'socket', got {wanted!r}")
    mode: Mode = wanted or ("socket" if app_token else "http")  # type: ignore[assignment]
    if mode == "socket" and app_token is None:
        raise SlackConfigError("SLACK_BOT_TOKEN is set for Socket Mode but SLACK_APP_TOKEN (xapp-…) is not")
    if mode == "http" and secret is None:
        raise SlackConfigError(
            "SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN (Socket Mode) "
            "nor SLACK_SIGNING_SECRET (HTTP mode) is"
        )
    return {"mode": mode, "bot_token": bot_token, "app_token": app_token, "signing_secret": secret}


def build_slack_adapter(runtime: PlatformRuntime) -> SlackAdapter | None:
    """The Slack adapter, or None when neither the manifest nor the environment configures Slack.

    Raises ``manifest.secrets.MissingSecret`` when a variable the manifest names is unset, and
    ``SlackConfigError`` when the environment-only setup is incomplete.
    """
    settings = _settings(runtime.manifest, runtime.environ)
    if settings is None:
        return None
    return SlackAdapter(
        lifecycle=runtime.lifecycle,
        feedback=runtime.feedback,
        audit=runtime.audit,
        manifest=runtime.manifest,
        api_url=_env(runtime.environ, API_URL_ENV),
        streaming=(_env(runtime.environ, STREAMING_ENV) or "").lower() in _TRUE,
        **settings,
    )


def render_app_manifest(
    manifest: Manifest | None,
    *,
    bot_name: str = "kairan",
    request_url: str | None = None,
    mode: Mode | None = None,
) -> str:
    """The Slack app manifest YAML for this installation.

    ``mode`` defaults to platforms.slack.mode (Socket Mode without a Slack block). HTTP mode
    needs ``request_url``, the public URL of ``/slack/events`` on the kairan server.
    """
    cfg = manifest.platforms.slack if manifest is not None else None
    chosen: Mode = mode or (cfg.mode if cfg is not None else "socket")
    name = bot_name.strip()
    if not name or len(name) > 35:
        raise ValueError(f"the Slack bot name must be 1-35 characters, got {bot_name!r}")
    yaml = YAML(typ="rt")
    yaml.width = 4096
    data = yaml.load(APP_MANIFEST_TEMPLATE.read_text(encoding="utf-8"))
    data["display_information"]["name"] = name
    data["features"]["bot_user"]["display_name"] = name
    settings = data["settings"]
    settings["socket_mode_enabled"] = chosen == "socket"
    if chosen == "http":
        if not request_url or not request_url.startswith("https://"):
            raise ValueError(
                f"HTTP mode needs the public https URL of {EVENTS_PATH} on the kairan server "
                f"(e.g. https://kairan.example.lg.jp{EVENTS_PATH}), got {request_url!r}"
            )
        settings["event_subscriptions"]["request_url"] = request_url
        settings["interactivity"]["request_url"] = request_url
    else:
        del settings["event_subscriptions"]["request_url"]
        del settings["interactivity"]["request_url"]
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()
