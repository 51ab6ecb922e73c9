"""Which kairan tenant (and which collections) a Teams conversation belongs to. Pure.

The manifest lists Teams channels by id (``tenants[].channels[]`` with ``platform: teams``). A
personal chat's id is only known once a user opens it, so an entry may also name a whole team
(its ``team.id``) or a whole Entra tenant (its directory id): ``manifest.scope.scope_for`` is asked with
the conversation (without the thread suffix), then the team, then the Entra tenant, and applies
the manifest's rule for unlisted conversations when none of them is listed.

When the bot is a single-tenant Entra app (``platforms.teams.tenant_id_env`` set), conversations
from any other Entra tenant are refused whatever the manifest says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.teams import PLATFORM
from adapters.teams.render import aad_tenant_id, base_conversation_id, team_id
from manifest.schema import Manifest
from manifest.scope import Scope, scope_for


def resolve_scope(
    manifest: Manifest, activity: Mapping[str, Any], *, allowed_aad_tenant: str | None = None
) -> Scope | None:
    directory = aad_tenant_id(activity)
    if allowed_aad_tenant and (directory or "").lower() != allowed_aad_tenant.lower():
        return None
    conversation = base_conversation_id(str((activity.get("conversation") or {}).get("id") or ""))
    return scope_for(manifest, PLATFORM, [conversation, team_id(activity) or "", directory or ""])
