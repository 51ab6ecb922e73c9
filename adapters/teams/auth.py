"""What kairan checks on a Teams request after the SDK's JWT validation (signature, expiry, audience).

The SDK accepts, with a multi-tenant registration, any Entra tenant's token whose ``aud`` is the
bot's app id, and only logs a warning when the token's ``serviceurl`` claim names another host than
the activity's ``serviceUrl`` (where the bot then sends its answer and its outbound token). Here:

- issuer: the Bot Framework's own issuer, Microsoft's first-party tenants (the SDK trusts the same
  ones), and, for a single-tenant bot, that tenant's Entra issuers; any other tenant is refused;
- tenant (single-tenant bot): the token's ``tid`` claim and the activity's tenant must be that one;
- service URL: https on a Microsoft host (``*.botframework.com``, ``smba.trafficmanager.net``,
  ``*.teams.microsoft.com``, ``*.teams.microsoft.us``) or a host the admin lists in
  ``platforms.teams.service_url_hosts`` (http allowed there, e.g. an on-premises test connector);
  and a ``serviceurl`` claim must name the same scheme, host and port.

In the development mode (``platforms.teams.dev_anonymous``: no token, as the Microsoft 365 Agents
Playground sends them) there is no token to check; instead the request must come from this
machine to a listener on this machine, and the service URL (where the answer and nothing else is
sent, without credentials) must be on this machine too.

``refusal`` is pure; ``inbound_guard`` is the aiohttp middleware that applies it (401, one log line,
never the request body).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware
from microsoft_agents.hosting.core.authorization import ClaimsIdentity

from manifest.schema import Manifest

log = logging.getLogger(__name__)

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
# Microsoft's own tenants (Azure Bot Service, Teams), as the SDK's and the .NET SDK's default issuers.
FIRST_PARTY_TENANTS = (
    "d6d49420-f39b-4df7-a1dc-d59a935871db",
    "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
    "69e9b82d-4842-4902-8d1e-abc5b98a55e8",
)
MICROSOFT_SERVICE_HOSTS = (
    "botframework.com", "smba.trafficmanager.net", "teams.microsoft.com", "teams.microsoft.us",
)
REFUSED = {"error": "Invalid token or authentication failed."}


def entra_issuers(tenant: str) -> tuple[str, str]:
    """The v1 and v2 issuers of an Entra tenant's tokens."""
    return f"https://sts.windows.net/{tenant}/", f"https://login.microsoftonline.com/{tenant}/v2.0"


@dataclass(frozen=True)
class _Url:
    scheme: str
    host: str
    port: int | None


def _parse(url: Any) -> _Url | None:
    if not isinstance(url, str) or not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.username or parts.password:
        return None
    return _Url(parts.scheme.lower(), parts.hostname.lower().rstrip("."), port)


def _within(host: str, allowed: str) -> bool:
    return host == allowed or host.endswith(f".{allowed}")


def _loopback_address(address: Any) -> bool:
    try:
        ip = ipaddress.ip_address(str(address).split("%", 1)[0])
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return (mapped or ip).is_loopback


def _loopback_host(host: str) -> bool:
    return host == "localhost" or _loopback_address(host)


def from_this_machine(request: web.Request) -> bool:
    """The request came from this machine, to a socket listening on this machine."""
    transport = request.transport
    if transport is None:
        return False
    ends = (transport.get_extra_info("peername"), transport.get_extra_info("sockname"))
    return all(isinstance(end, tuple | list) and end and _loopback_address(end[0]) for end in ends)


def _activity_tenant(activity: Mapping[str, Any]) -> str | None:
    channel_data = activity.get("channelData")
    tenant = channel_data.get("tenant") if isinstance(channel_data, Mapping) else None
    found = tenant.get("id") if isinstance(tenant, Mapping) else None
    if found is None:
        conversation = activity.get("conversation")
        found = conversation.get("tenantId") if isinstance(conversation, Mapping) else None
    return found.lower() if isinstance(found, str) and found else None


@dataclass(frozen=True)
class InboundPolicy:
    issuers: frozenset[str]  # lower case
    tenant_id: str | None  # single-tenant bot: its Entra tenant (lower case)
    microsoft_hosts: tuple[str, ...]
    listed_hosts: tuple[str, ...]  # the admin's: http allowed
    anonymous: bool = False  # the development mode: no token; this machine only

    @classmethod
    def development(cls) -> InboundPolicy:
        """No token (the SDK's anonymous mode); the request and its service URL on this machine."""
        return cls(issuers=frozenset(), tenant_id=None, microsoft_hosts=(), listed_hosts=(), anonymous=True)

    @classmethod
    def create(cls, *, tenant_id: str | None = None, service_url_hosts: Iterable[str] = ()) -> InboundPolicy:
        tenant = tenant_id.strip().lower() if tenant_id and tenant_id.strip() else None
        issuers = {BOT_FRAMEWORK_ISSUER}
        for trusted in (*FIRST_PARTY_TENANTS, *((tenant,) if tenant else ())):
            issuers.update(entra_issuers(trusted))
        return cls(
            issuers=frozenset(i.lower() for i in issuers),
            tenant_id=tenant,
            microsoft_hosts=MICROSOFT_SERVICE_HOSTS,
            listed_hosts=tuple(h.strip().lower().rstrip(".") for h in service_url_hosts if h.strip()),
        )

    def refusal(self, claims: Mapping[str, Any], activity: Mapping[str, Any]) -> str | None:
        """None when the request may be handled, else why not (for the log; no secrets in it)."""
        if self.anonymous:
            service = _parse(activity.get("serviceUrl"))
            if service is None or service.scheme not in ("http", "https") or not _loopback_host(service.host):
                return "development mode: the activity's service URL is not on this machine"
            return None
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or issuer.lower() not in self.issuers:
            return f"token issuer {issuer!r} is not accepted"
        if self.tenant_id is not None:
            tid = claims.get("tid")
            if tid is not None and str(tid).lower() != self.tenant_id:
                return f"token tenant {tid!r} is not this bot's tenant"
            if _activity_tenant(activity) != self.tenant_id:
                return "the activity's tenant is not this bot's tenant"
        service = _parse(activity.get("serviceUrl"))
        claimed_raw = claims.get("serviceurl")
        if claimed_raw is not None and _parse(claimed_raw) != service:
            return "the token's serviceurl claim is not the activity's service URL"
        if service is None or not self._host_allowed(service):
            return "the activity's service URL is not on an allowed host"
        return None

    def _host_allowed(self, url: _Url) -> bool:
        if any(_within(url.host, h) for h in self.listed_hosts):
            return url.scheme in ("https", "http")
        return url.scheme == "https" and any(_within(url.host, h) for h in self.microsoft_hosts)


def policy_for(manifest: Manifest, tenant_id: str | None) -> InboundPolicy:
    """The policy for the manifest's Teams settings and the bot's tenant (None: multi-tenant)."""
    teams = manifest.platforms.teams
    if teams is not None and teams.dev_anonymous:
        return InboundPolicy.development()
    hosts = teams.service_url_hosts if teams is not None else []
    return InboundPolicy.create(tenant_id=tenant_id, service_url_hosts=hosts)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def inbound_guard(policy: InboundPolicy) -> Middleware:
    """aiohttp middleware placed after the SDK's ``jwt_authorization_middleware``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if policy.anonymous and not from_this_machine(request):
            log.warning("Teams request refused: development mode, and the request is not from this machine")
            return web.json_response(REFUSED, status=401)
        identity = request.get("claims_identity")
        claims = identity.claims if isinstance(identity, ClaimsIdentity) else {}
        try:
            activity = await request.json()
        except ValueError:
            return await handler(request)  # the SDK answers a body that is not JSON with 400
        reason = policy.refusal(claims or {}, activity if isinstance(activity, Mapping) else {})
        if reason is not None:
            log.warning("Teams request refused: %s", reason)
            return web.json_response(REFUSED, status=401)
        return await handler(request)

    return middleware
