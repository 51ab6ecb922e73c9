"""Builds the Teams adapter from the manifest and the environment (called once, by ``serve``).

With ``platforms.teams.dev_anonymous`` (the development mode, for the Microsoft 365 Agents
Playground) no secret is read: the SDK's anonymous setting accepts activities without a token and
the outbound token providers are anonymous; ``adapters.teams.auth`` and ``kairan serve`` keep the
bot to this machine.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.core import AgentAuthConfiguration
from microsoft_agents.hosting.core.authorization import AuthTypes, Connections

from adapters.spec import PlatformRuntime
from adapters.teams.adapter import TeamsAdapter, TeamsSettings
from adapters.teams.connector import AnonymousConnections
from adapters.teams.references import ConversationStore
from manifest.schema import Manifest
from manifest.secrets import secret_from_env

log = logging.getLogger(__name__)

# The classic multi-tenant Bot Framework authority, used when the manifest names no tenant.
MULTI_TENANT_AUTHORITY_TENANT = "botframework.com"
SERVICE_CONNECTION = "SERVICE_CONNECTION"


def teams_auth_configuration(
    manifest: Manifest, environ: Mapping[str, str] = os.environ
) -> AgentAuthConfiguration:
    """App id, secret and tenant from the variables ``platforms.teams`` names (MissingSecret if unset)."""
    teams = manifest.platforms.teams
    if teams is None:
        raise ValueError("the manifest has no platforms.teams section")
    app_id = secret_from_env(teams.app_id_env, field="platforms.teams.app_id_env", environ=environ).strip()
    password = secret_from_env(
        teams.app_password_env, field="platforms.teams.app_password_env", environ=environ
    )
    tenant = (
        secret_from_env(teams.tenant_id_env, field="platforms.teams.tenant_id_env", environ=environ).strip()
        if teams.tenant_id_env
        else MULTI_TENANT_AUTHORITY_TENANT
    )
    return AgentAuthConfiguration(
        auth_type=AuthTypes.client_secret,
        client_id=app_id,
        tenant_id=tenant,
        client_secret=password,
        connection_name=SERVICE_CONNECTION,
        validate_issuer=True,  # the SDK's issuer allow-list too (adapters.teams.auth checks it again)
    )


def build_teams_adapter(
    runtime: PlatformRuntime, *, connections: Connections | None = None, **settings: Any
) -> TeamsAdapter | None:
    """The Teams adapter, or None when the manifest does not configure Teams.

    ``connections`` (outbound token providers) defaults to MSAL with the app's client secret;
    ``settings`` replace fields of the adapter's ``TeamsSettings`` (its port, streaming).
    """
    teams = runtime.manifest.platforms.teams
    if teams is None:
        return None
    settings = {"port": teams.port} | settings
    if teams.dev_anonymous:
        log.warning(
            "Teams development mode (platforms.teams.dev_anonymous): activities are accepted without a "
            "token, only from this machine; never use it in production"
        )
        auth = AgentAuthConfiguration(anonymous_allowed=True, connection_name=SERVICE_CONNECTION)
        team_settings = TeamsSettings(app_id="", anonymous=True, **settings)
        connections = connections or AnonymousConnections()
    else:
        auth = teams_auth_configuration(runtime.manifest, runtime.environ)
        if connections is None:
            connections = MsalConnectionManager(connections_configurations={SERVICE_CONNECTION: auth})
        aad_tenant_id = auth.TENANT_ID if teams.tenant_id_env else None
        team_settings = TeamsSettings(app_id=str(auth.CLIENT_ID), aad_tenant_id=aad_tenant_id, **settings)
    return TeamsAdapter(
        settings=team_settings,
        auth=auth,
        connections=connections,
        lifecycle=runtime.lifecycle,
        manifest=runtime.manifest,
        conversations=ConversationStore(runtime.db),
        feedback=runtime.feedback,
        hash_user=runtime.audit.hash_user,
    )
