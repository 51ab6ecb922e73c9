"""A local Bot Framework token issuer: OpenID metadata + JWKS on 127.0.0.1, and RS256 tokens.

Usage::

    async with FakeBotFrameworkIssuer() as issuer:
        token = issuer.token(audience=APP_ID, service_url=connector.service_url)

The server publishes ``/v1/.well-known/openidconfiguration`` (like
https://login.botframework.com/v1/.well-known/openidconfiguration) whose ``jwks_uri`` points at
``/v1/.well-known/keys``, with the public half of an RSA key generated per instance.

``LocalJwksManager`` is the one SDK seam the tests patch: microsoft-agents-hosting-core 1.9 has no
setting for the OpenID metadata or JWKS URL. ``JwtTokenValidator`` computes the JWKS URL from the
token's issuer (Bot Framework tokens → https://login.botframework.com/v1/.well-known/keys) and
fetches keys through its class attribute ``JwtTokenValidator._jwk_client_manager``. The replacement
records the URL the SDK asked for and fetches the keys from the ``jwks_uri`` of the local
metadata document instead; everything else (signature, algorithm, expiry, audience, tenant
checks) is the SDK's own code.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from typing import Any

import aiohttp
import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWKClient
from microsoft_agents.hosting.core import AgentAuthConfiguration
from microsoft_agents.hosting.core.authorization import (
    AccessTokenProviderBase,
    AnonymousTokenProvider,
    ConnectionManager,
)
from microsoft_agents.hosting.core.authorization.jwt.jwt_token_validator import (
    _JwkClientCacheEntry,
    _JwkClientManager,
)

from tests.fakes.local_http import LocalServer

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
OUTBOUND_TOKEN = "outbound-token-from-the-fake-token-provider"


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeBotFrameworkIssuer(LocalServer):
    def __init__(self, *, kid: str = "kairan-test-key") -> None:
        self.kid = kid
        self.key = new_key()
        self.metadata_requests = 0
        self.jwks_requests = 0

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}/v1/.well-known/openidconfiguration"

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": self.kid,
                    "n": _b64(numbers.n),
                    "e": _b64(numbers.e),
                    "endorsements": ["msteams"],
                }
            ]
        }

    def token(
        self,
        *,
        audience: str,
        service_url: str,
        lifetime: float = 3600,
        issued_at: float | None = None,
        key: rsa.RSAPrivateKey | None = None,
        issuer: str = BOT_FRAMEWORK_ISSUER,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """A Bot Framework connector token as Azure Bot Service sends it to the bot (``extra``: more
        claims, e.g. the ``tid`` of an Entra token; a claim set to None is left out)."""
        now = time.time() if issued_at is None else issued_at
        claims = {
            "serviceurl": service_url,
            "nbf": int(now) - 5,
            "exp": int(now + lifetime),
            "iss": issuer,
            "aud": audience,
            "jti": str(uuid.uuid4()),
        }
        claims.update(extra or {})
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/.well-known/openidconfiguration", self._metadata)
        app.router.add_get("/v1/.well-known/keys", self._keys)
        return app

    async def _metadata(self, _request: web.Request) -> web.Response:
        self.metadata_requests += 1
        return web.json_response(
            {
                "issuer": BOT_FRAMEWORK_ISSUER,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": f"{self.base_url}/v1/.well-known/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _keys(self, _request: web.Request) -> web.Response:
        self.jwks_requests += 1
        return web.json_response(self.jwks())


async def local_jwks_uri(metadata_url: str) -> str:
    """The ``jwks_uri`` the (local) OpenID metadata document publishes."""
    async with aiohttp.ClientSession() as session, session.get(metadata_url) as response:
        response.raise_for_status()
        return str((await response.json())["jwks_uri"])


class LocalJwksManager(_JwkClientManager):
    """Replaces ``JwtTokenValidator._jwk_client_manager``: keys come from the local JWKS."""

    def __init__(self, jwks_uri: str) -> None:
        super().__init__()
        self.local_jwks_uri = jwks_uri
        self.requested: list[str] = []

    def _get_jwk_client(self, jwks_uri: str) -> _JwkClientCacheEntry:
        self.requested.append(jwks_uri)
        if jwks_uri not in self._cache:
            self._cache[jwks_uri] = _JwkClientCacheEntry(PyJWKClient(self.local_jwks_uri), threading.Lock())
        return self._cache[jwks_uri]


class StaticTokenProvider(AnonymousTokenProvider):
    """Outbound token provider for tests: a fixed bearer token, no call to Entra ID."""

    def __init__(self, configuration: AgentAuthConfiguration) -> None:
        self._configuration = configuration
        self.audiences: list[str] = []

    @property
    def configuration(self) -> AgentAuthConfiguration:
        return self._configuration

    async def get_access_token(
        self, resource_url: str, scopes: list[str], force_refresh: bool = False
    ) -> str:
        self.audiences.append(resource_url)
        return OUTBOUND_TOKEN


def fake_connections(auth: AgentAuthConfiguration) -> ConnectionManager:
    """The SDK's generic ConnectionManager with the static token provider in place of MSAL."""
    provider: type[AccessTokenProviderBase] = StaticTokenProvider
    return ConnectionManager(
        provider_factory=provider, connections_configurations={"SERVICE_CONNECTION": auth}
    )
