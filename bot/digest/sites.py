"""Where a feed's fetches may go: pure checks of URLs and addresses (no I/O).

A feed may fetch only http(s) URLs on its own site (the feed URL's host) or on a host
the admin lists for it (``allowed_hosts``). Whatever the name, the address it resolves
to must be public: loopback, private, link-local, shared, reserved and multicast
addresses are refused, unless the admin names that host (with its port) as an
on-premises mirror (``internal_hosts``). Cloud metadata addresses are refused always.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Site = tuple[str, int | None]  # (host, port); None = the scheme's default ports (80, 443)

_SCHEMES = {"http": 80, "https": 443}
_DEFAULT_PORTS = frozenset(_SCHEMES.values())
_METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class SiteRefused(ValueError):
    """A URL or address this feed may not reach; the message says which and why."""


def parse_site(entry: str) -> Site:
    """``host`` or ``host:port`` (an IPv6 address in brackets) as the manifest writes it."""
    text = entry.strip().lower()
    parts = urlsplit(f"//{text}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{entry!r}: the port must be a number from 1 to 65535") from exc
    host = parts.hostname or ""
    if not host or parts.path or parts.username or parts.password or parts.query:
        raise ValueError(f"{entry!r}: write a host name or address, optionally :port (no scheme or path)")
    return host.rstrip("."), port


def url_site(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, or SiteRefused."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise SiteRefused(f"{url}: only http and https URLs are fetched, not {scheme or 'a relative URL'!r}")
    try:
        port = parts.port or _SCHEMES[scheme]
    except ValueError as exc:
        raise SiteRefused(f"{url}: invalid port") from exc
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise SiteRefused(f"{url}: no host")
    return scheme, host, port


def _matches(sites: Iterable[Site], host: str, port: int) -> bool:
    return any(h == host and (p == port if p is not None else port in _DEFAULT_PORTS) for h, p in sites)


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a public internet address (None when it is)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _METADATA:
        return "a cloud metadata address"
    for attribute, what in (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_private", "a private address"),
        ("is_multicast", "a multicast address"),
        ("is_unspecified", "an unspecified address"),
        ("is_reserved", "a reserved address"),
    ):
        if getattr(ip, attribute):
            return what
    if not ip.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True)
class SitePolicy:
    """The sites one feed may fetch from, and which of them may be on internal addresses."""

    sites: frozenset[Site]
    internal: frozenset[Site] = frozenset()

    @classmethod
    def for_feed(
        cls, url: str, allowed_hosts: Iterable[str] = (), internal_hosts: Iterable[str] = ()
    ) -> SitePolicy:
        """The feed URL's own host (its port, and 80/443), plus the hosts the admin lists."""
        _, host, port = url_site(url)
        internal = frozenset(parse_site(h) for h in internal_hosts)
        sites = {(host, port), (host, None), *(parse_site(h) for h in allowed_hosts), *internal}
        return cls(frozenset(sites), internal)

    def check_url(self, url: str, *, redirect_from: str | None = None) -> tuple[str, int]:
        """(host, port) of ``url`` when this feed may fetch it, else SiteRefused."""
        _, host, port = url_site(url)
        if not _matches(self.sites, host, port):
            how = f"a redirect from {redirect_from} to " if redirect_from else ""
            raise SiteRefused(
                f"{how}{url}: {host}:{port} is not allowed for this feed (its own site or allowed_hosts)"
            )
        return host, port

    def allows_internal(self, host: str, port: int) -> bool:
        return _matches(self.internal, host.lower().rstrip("."), port)

    def check_address(self, host: str, port: int, address: str) -> None:
        """SiteRefused when ``host`` resolved to ``address`` may not be reached."""
        problem = address_problem(address)
        if problem is None:
            return
        if problem != "a cloud metadata address" and self.allows_internal(host, port):
            return
        subject = address if host == address.split("%", 1)[0] else f"{host} resolves to {address}, which"
        raise SiteRefused(f"{subject} is {problem}; name it in internal_hosts to fetch from it")
