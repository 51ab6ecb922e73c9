"""DNS rebinding: the console, /metrics and /readyz answer only the host names the server is bound to.

A web page on evil.example whose name is re-pointed at 127.0.0.1 is same-origin with the console
for the browser, which then sends ``Host: evil.example``; the server must refuse it (403).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kairan.console.hosts import HOST_MESSAGE, HostPolicy
from kairan.serve import Services, build_services
from tests.kairan.test_serve import API, QUESTION, client_for, config_for

GUARDED = [
    ("POST", "/console/api/ask"),
    ("POST", "/console/api/stream"),
    ("GET", "/console"),
    ("GET", "/console/static/app.js"),
    ("GET", "/console/api/digests"),
    ("GET", "/metrics"),
    ("GET", "/readyz"),
]
TOKEN = "tok-12345"


@pytest.fixture
def services(corpus_data_dir: Path, tmp_path: Path) -> Iterator[Services]:
    config = config_for(
        corpus_data_dir, tmp_path / "state", server={"allowed_hosts": ["kairan.city.example.lg.jp"]}
    )
    built = build_services(config, environ={})
    yield built
    built.db.close()


async def _status(client: Any, method: str, path: str, host: str, **headers: str) -> tuple[int, str]:
    body = {"question": QUESTION} if method == "POST" else None
    r = await client.request(method, path, json=body, headers={**API, "Host": host, **headers})
    return r.status, await r.text()


@pytest.mark.parametrize(("method", "path"), GUARDED)
async def test_a_rebound_host_is_refused_on_a_loopback_bind(
    services: Services, method: str, path: str
) -> None:
    client = await client_for(services, host="127.0.0.1")
    try:
        for host in ("evil.example", "evil.example:8080", "EVIL.example.", "127.0.0.1.nip.io"):
            status, text = await _status(client, method, path, host)
            assert (status, text) == (403, HOST_MESSAGE), host
        assert services.metrics.questions.value(tenant="local", platform="console") == 0  # nothing asked
        for host in (f"127.0.0.1:{client.port}", "localhost:8080", "[::1]:8080", "localhost"):
            status, _ = await _status(client, method, path, host)
            assert status == 200, host
    finally:
        await client.close()


@pytest.mark.parametrize(("method", "path"), GUARDED)
async def test_a_rebound_host_is_refused_on_every_interface_even_with_the_token(
    services: Services, method: str, path: str
) -> None:
    client = await client_for(services, host="0.0.0.0", environ={"KAIRAN_CONSOLE_TOKEN": TOKEN})
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    try:
        status, text = await _status(client, method, path, "evil.example:8080", **bearer)
        assert (status, text) == (403, HOST_MESSAGE)
        for host in ("192.0.2.10:8080", "kairan.city.example.lg.jp", "KAIRAN.city.example.lg.jp:443"):
            status, _ = await _status(client, method, path, host, **bearer)
            assert status == 200, host
    finally:
        await client.close()


async def test_healthz_answers_any_host(services: Services) -> None:
    client = await client_for(services, host="127.0.0.1")
    try:
        r = await client.get("/healthz", headers={"Host": "evil.example"})
        assert r.status == 200 and await r.text() == "ok"
    finally:
        await client.close()


@pytest.mark.parametrize(("bind", "header", "allowed"), [
    ("127.0.0.1", "127.0.0.1:8080", True),
    ("127.0.0.1", "localhost", True),
    ("127.0.0.1", "[::1]:8080", True),
    ("127.0.0.1", "192.0.2.10", False),  # an address this bind does not listen on
    ("127.0.0.1", "evil.example", False),
    ("127.0.0.1", "", False),
    ("127.0.0.1", None, False),
    ("127.0.0.1", "localhost.evil.example", False),
    ("0.0.0.0", "192.0.2.10:8080", True),  # an address literal cannot be rebound
    ("0.0.0.0", "[2001:db8::1]:8080", True),
    ("0.0.0.0", "evil.example", False),
    ("192.0.2.10", "192.0.2.10", True),
    ("192.0.2.10", "192.0.2.11", False),
    ("kairan.local", "kairan.local:8080", True),  # bound by name: that name
    ("kairan.local", "evil.example", False),
    ("0.0.0.0", "portal.city.example.lg.jp", True),  # listed by the admin
    ("0.0.0.0", "Portal.City.Example.LG.JP.:8443", True),
    ("0.0.0.0", "x.portal.city.example.lg.jp", False),
])
def test_host_policy(bind: str, header: str | None, allowed: bool) -> None:
    policy = HostPolicy.for_bind(bind, ["portal.city.example.lg.jp"])
    assert policy.allows(header) is allowed
