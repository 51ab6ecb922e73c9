"""Which tenant a conversation belongs to and which collections it may search. Pure.

One rule for every chat platform, the console and the CLI (``scope_for(manifest, platform, ids)``):

1. A manifest without tenants serves one organisation: every conversation is the tenant
   ``local`` and may search every collection.
2. A conversation a tenant lists (``tenants[].channels[]``, matched on any of the ids the platform
   gives, most specific first: a Teams conversation, then its team, then its Entra tenant) belongs
   to that tenant and searches the channel's collections (the tenant's, unless the entry narrows them).
3. Any other conversation is *unlisted* (a DM, a 1:1 talk, a channel nobody listed, a channel shared
   with another organisation). With ``unlisted.access: public`` (the default) it belongs to the
   platform's ``default_tenant`` (LoGo), else to ``unlisted.tenant``, else to the only tenant, and
   searches only those of that tenant's collections that are marked ``public: true``. It is not
   answered (None) with ``unlisted.access: none``, when the manifest has several tenants and names
   none for it (whose budget would it spend?), or when no public collection is left.

Never a tenant's internal collection for a conversation that tenant did not list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from manifest.schema import Manifest, TenantConfig

LOCAL_TENANT = "local"  # the one tenant of a manifest that lists none


@dataclass(frozen=True)
class Scope:
    """The tenant a question is asked for and the collections it may search."""

    tenant: str
    collections: tuple[str, ...] | None  # None: every collection (a manifest without tenants)

    @property
    def searchable(self) -> list[str] | None:
        """The collections as the answer engine takes them."""
        return None if self.collections is None else list(self.collections)


def scope_for(manifest: Manifest, platform: str, ids: Iterable[str]) -> Scope | None:
    """The scope of a conversation on ``platform`` known by ``ids``; None: not to be answered."""
    if not manifest.tenants:
        return Scope(LOCAL_TENANT, None)
    for key in ids:
        if not key:
            continue
        found = manifest.find_channel(platform, key)
        if found is not None:
            tenant, channel = found
            return Scope(tenant.id, tuple(tenant.collections_for(channel)))
    return unlisted_scope(manifest, platform)


def unlisted_scope(manifest: Manifest, platform: str) -> Scope | None:
    """The scope of a conversation no tenant lists (rule 3 above)."""
    if not manifest.tenants:
        return Scope(LOCAL_TENANT, None)
    tenant = _unlisted_tenant(manifest, platform)
    if manifest.unlisted.access == "none" or tenant is None:
        return None
    public = {c.name for c in manifest.knowledge.collections if c.public}
    allowed = tuple(name for name in tenant.collections if name in public)
    return Scope(tenant.id, allowed) if allowed else None


def tenant_scope(manifest: Manifest, tenant_id: str) -> Scope | None:
    """A tenant named outright (``kairan ask --tenant``): its collections; None when it is unknown.

    Without tenants in the manifest any name is accepted, with every collection.
    """
    if not manifest.tenants:
        return Scope(tenant_id, None)
    tenant = manifest.tenant(tenant_id)
    return None if tenant is None else Scope(tenant.id, tuple(tenant.collections))


def _unlisted_tenant(manifest: Manifest, platform: str) -> TenantConfig | None:
    chosen = manifest.platform_default_tenant(platform) or manifest.unlisted.tenant
    if chosen is not None:
        return manifest.tenant(chosen)
    return manifest.tenants[0] if len(manifest.tenants) == 1 else None
