"""Secrets come only from the environment; the manifest names the variables."""

from __future__ import annotations

import os
from collections.abc import Mapping

from manifest.schema import Loc, Manifest


class MissingSecret(LookupError):
    """An environment variable the manifest refers to is not set (or is empty)."""

    def __init__(self, env_name: str, field: str = "") -> None:
        self.env_name = env_name
        self.field = field
        where = f" (the manifest's {field} names it)" if field else ""
        super().__init__(f"environment variable {env_name} is not set{where}")


def secret_from_env(name: str, *, field: str = "", environ: Mapping[str, str] | None = None) -> str:
    """The value of environment variable ``name``; ``field`` is the manifest field that named it."""
    value = (os.environ if environ is None else environ).get(name, "")
    if not value.strip():
        raise MissingSecret(name, field)
    return value


def required_env(manifest: Manifest) -> list[tuple[Loc, str]]:
    """(location in the manifest, variable name) for every secret the configured features will read."""
    refs: list[tuple[Loc, str | None]] = []
    if manifest.llm.provider != "none":
        refs.append((("llm", "api_key_env"), manifest.llm.api_key_env))
    if (slack := manifest.platforms.slack) is not None:
        refs.append((("platforms", "slack", "bot_token_env"), slack.bot_token_env))
        if slack.mode == "socket":
            refs.append((("platforms", "slack", "app_token_env"), slack.app_token_env))
        else:
            refs.append((("platforms", "slack", "signing_secret_env"), slack.signing_secret_env))
    if (teams := manifest.platforms.teams) is not None and not teams.dev_anonymous:  # no credentials then
        refs.append((("platforms", "teams", "app_id_env"), teams.app_id_env))
        refs.append((("platforms", "teams", "app_password_env"), teams.app_password_env))
        refs.append((("platforms", "teams", "tenant_id_env"), teams.tenant_id_env))
    if (logo := manifest.platforms.logo) is not None:
        refs.append((("platforms", "logo", "token_env"), logo.token_env))
    refs.append((("state", "url_env"), manifest.state.url_env))
    return [(loc, name) for loc, name in refs if name is not None]
