"""Which kairan tenant (and which collections) a Teams conversation belongs to. Pure.

The manifest lists Teams channels by id (``tenants[].channels[]`` with ``platform: teams``). A
personal chat's id is only known once a user opens it, so an entry may also name a whole team
(its ``team.id``) or a whole Entra tenant (its directory id). Lookup order: conversation (without
the thread suffix) → team → Entra tenant → the only kairan tenant, when the manifest has exactly
one (or none: no-manifest mode answers from every collection as tenant ``default``).

When the bot is a single-tenant Entra app (``platforms.teams.tenant_id_env`` set), conversations
from any other Entra tenant are refused whatever the manifest says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.teams.render import aad_tenant_id, base_conversation_id, team_id
from manifest.schema import Manifest

PLATFORM = "teams"
DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class Scope:
    tenant: str
    collections: tuple[str, ...] | None  # None: every collection


def resolve_scope(
    manifest: Manifest, activity: Mapping[str, Any], *, allowed_aad_tenant: str | None = None
) -> Scope | None:
    if allowed_aad_tenant and (aad_tenant_id(activity) or "").lower() != allowed_aad_tenant.lower():
        return None
    conversation = base_conversation_id(str((activity.get("conversation") or {}).get("id") or ""))
    for key in (conversation, team_id(activity), aad_tenant_id(activity)):
        if not key:
            continue
        found = manifest.find_channel(PLATFORM, key)
        if found is not None:
            tenant, channel = found
            return Scope(tenant.id, tuple(tenant.collections_for(channel)))
    if not manifest.tenants:
        return Scope(DEFAULT_TENANT, None)
    if len(manifest.tenants) == 1:
        only = manifest.tenants[0]
        return Scope(only.id, tuple(only.collections))
    return None
