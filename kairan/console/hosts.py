"""The Host header check against DNS rebinding, for the console, /metrics and /readyz.

A web page on a name its owner re-points at this machine (``evil.example`` → 127.0.0.1) is
same-origin with the console for the browser, which then sends ``Host: evil.example``. Every
request the browser makes that way carries that name, so a server that answers only the names it
is bound to cannot be reached through rebinding. Allowed:

- ``localhost`` and loopback address literals;
- any address literal when bound to every interface (``0.0.0.0``, ``::``), else the bound address
  (an address literal cannot be rebound: the browser's origin is that address, not a name);
- the name the server is bound to (``--host kairan.local``);
- the names the admin lists in the manifest (``server.allowed_hosts``), e.g. the name of a
  reverse proxy in front of kairan.

The port is not compared: a rebound page has to use the server's port anyway.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

HOST_MESSAGE = (
    "このホスト名ではアクセスできません（Host ヘッダーが許可されていません）。"
    "管理者はマニフェストの server.allowed_hosts に利用するホスト名を追加してください。"
)
GUARDED_PREFIXES = ("/console", "/metrics", "/readyz")
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})


def host_name(header: str) -> str:
    """The name or address of a Host header value, lower case, without port, brackets or final dot."""
    value = header.strip().lower()
    if value.startswith("["):  # [::1]:8080
        return value[1 : value.find("]")] if "]" in value else ""
    name, colon, port = value.rpartition(":")
    if colon and port.isdigit() and ":" not in name:
        value = name
    return value.rstrip(".")


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


@dataclass(frozen=True)
class HostPolicy:
    bind: str  # the address or name the server listens on, normalised like a Host header
    allowed: frozenset[str]  # names the admin listed

    @classmethod
    def for_bind(cls, bind: str, allowed_hosts: Iterable[str] = ()) -> HostPolicy:
        return cls(bind=host_name(bind), allowed=frozenset(host_name(h) for h in allowed_hosts if h.strip()))

    def allows(self, header: str | None) -> bool:
        """Whether a request with this Host header may reach the guarded paths."""
        name = host_name(header or "")
        if not name:
            return False
        if name == "localhost" or name in self.allowed or name == self.bind:
            return True
        address = _address(name)
        if address is None:
            return False
        return address.is_loopback or self.bind in _WILDCARD_BINDS or address == _address(self.bind)


def guards(path: str) -> bool:
    """The paths whose answers a rebound page must not read (questions, tenant ids, adapters)."""
    return any(path == p or path.startswith(f"{p}/") for p in GUARDED_PREFIXES)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def host_guard(policy: HostPolicy) -> Middleware:
    """aiohttp middleware: 403 for a guarded path asked for under a Host the policy does not allow."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if guards(request.path) and not policy.allows(request.headers.get("Host")):
            return web.Response(status=403, text=HOST_MESSAGE)
        return await handler(request)

    return middleware
