"""Builds the LoGo adapter from the manifest (the serve entry point calls this)."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping

from adapters.logo.adapter import LogoAdapter
from adapters.logo.client import LogoClient
from adapters.spec import PlatformRuntime
from manifest.schema import LogoConfig
from manifest.secrets import secret_from_env


def ssl_context(config: LogoConfig) -> ssl.SSLContext | None:
    """The system trust store plus ``ca_file`` when one is configured (an LGWAN CA)."""
    if config.ca_file is None:
        return None
    if not config.ca_file.is_file():
        raise ValueError(f"platforms.logo.ca_file: no such file {config.ca_file}")
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=str(config.ca_file))
    return context


def build_logo_client(config: LogoConfig, *, environ: Mapping[str, str] = os.environ) -> LogoClient:
    token = secret_from_env(config.token_env, field="platforms.logo.token_env", environ=environ)
    return LogoClient(
        url=config.url,
        token=token,
        api_version=config.api_version,
        proxy=config.proxy,
        ssl_context=ssl_context(config),
        send_interval=config.send_interval_s,
    )


def build_logo_adapter(runtime: PlatformRuntime) -> LogoAdapter | None:
    """The adapter, or None when ``platforms.logo`` is not configured."""
    manifest = runtime.manifest
    config = manifest.platforms.logo
    if config is None:
        return None
    tenants = [t.id for t in manifest.tenants]
    if config.default_tenant is not None and config.default_tenant not in tenants:
        raise ValueError(
            f"platforms.logo.default_tenant: no tenant with id {config.default_tenant!r} (tenants: {tenants})"
        )
    return LogoAdapter(
        client=build_logo_client(config, environ=runtime.environ),
        manifest=manifest,
        lifecycle=runtime.lifecycle,
        max_message_length=config.max_message_length,
        answer_bots=config.answer_bots,
    )
