"""Teams requests the SDK's JWT check lets through but kairan must refuse: another Entra tenant's
token, a token whose serviceurl is not the activity's, a service URL outside Microsoft's hosts."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from adapters.teams.auth import InboundPolicy
from bot.state.audit import AuditLog
from knowledge.search import Searcher
from tests.adapters.teams.conftest import AAD_TENANT, APP_ID, CHANNEL, Teams, real_engine
from tests.fakes.teams_auth import BOT_FRAMEWORK_ISSUER

OTHER_TENANT = "7c1f0e2d-9b8a-4c6d-8e5f-3a2b1c0d9e8f"
BOT_FRAMEWORK_TENANT = "d6d49420-f39b-4df7-a1dc-d59a935871db"  # Microsoft's: trusted by the SDK too


async def refused(teams: Teams, adapter: Any, token: str, **activity: Any) -> None:
    status, body = await teams.post(
        adapter, teams.activity("channel_mention", **activity), authorization=f"Bearer {token}"
    )
    assert status == 401, body
    assert adapter.in_flight == 0
    await asyncio.sleep(0.2)
    assert teams.connector.posted == []
    assert list(AuditLog(teams.db).records()) == []
    assert adapter.conversations.get(CHANNEL) is None  # not even the conversation reference is kept


@pytest.mark.parametrize("issuer", [
    f"https://sts.windows.net/{OTHER_TENANT}/",
    f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0",
])
async def test_a_token_from_another_entra_tenant_is_refused(
    teams: Teams, kb_searcher: Searcher, issuer: str
) -> None:
    """Audit: with the default multi-tenant registration, such a token with aud = the bot's id passed."""
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    await refused(teams, adapter, teams.token(issuer=issuer, extra={"tid": OTHER_TENANT}))


async def test_a_serviceurl_claim_that_is_not_the_activitys_is_refused(
    teams: Teams, kb_searcher: Searcher, caplog: pytest.LogCaptureFixture
) -> None:
    """Audit: a replayed token for another service URL only logged a warning, and the bot then sent
    its answer (and its outbound token) to the activity's serviceUrl."""
    caplog.set_level(logging.WARNING)
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    token = teams.token(service_url="https://smba.trafficmanager.net/jp/")
    await refused(teams, adapter, token)
    assert any("serviceurl" in r.getMessage() for r in caplog.records)


async def test_a_service_url_outside_the_allowed_hosts_is_refused(
    teams: Teams, kb_searcher: Searcher
) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    evil = "https://connector.evil.example/"
    await refused(teams, adapter, teams.token(service_url=evil), serviceUrl=evil)


async def test_the_bot_frameworks_own_token_is_still_accepted(teams: Teams, kb_searcher: Searcher) -> None:
    adapter = await teams.start_adapter(real_engine(kb_searcher, teams.db))
    status, _ = await teams.post(adapter, teams.activity("installation_update"))
    assert status == 202


# --- the policy, pure ----------------------------------------------------------------------------

SERVICE = "https://smba.trafficmanager.net/jp/"


def claims(
    issuer: str = BOT_FRAMEWORK_ISSUER, service_url: str | None = SERVICE, **more: Any
) -> dict[str, Any]:
    found: dict[str, Any] = {"iss": issuer, "aud": APP_ID, **more}
    if service_url is not None:
        found["serviceurl"] = service_url
    return found


def activity(service_url: str | None = SERVICE, tenant: str | None = AAD_TENANT) -> dict[str, Any]:
    found: dict[str, Any] = {"type": "message", "conversation": {"id": CHANNEL}}
    if service_url is not None:
        found["serviceUrl"] = service_url
    if tenant is not None:
        found["channelData"] = {"tenant": {"id": tenant}}
    return found


MULTI = InboundPolicy.create()
SINGLE = InboundPolicy.create(tenant_id=AAD_TENANT)


@pytest.mark.parametrize(("policy", "token", "act", "reason"), [
    (MULTI, claims(), activity(), None),
    (MULTI, claims(), activity(tenant=OTHER_TENANT), None),  # multi-tenant: any customer tenant
    (MULTI, claims(f"https://sts.windows.net/{OTHER_TENANT}/", tid=OTHER_TENANT), activity(), "issuer"),
    (MULTI, claims(f"https://sts.windows.net/{BOT_FRAMEWORK_TENANT}/", tid=BOT_FRAMEWORK_TENANT),
     activity(), None),
    (MULTI, claims(service_url="https://smba.trafficmanager.net/amer/"), activity(), None),  # same host
    (MULTI, claims(service_url="https://evil.example/"), activity(), "serviceurl"),
    (MULTI, claims(service_url="http://smba.trafficmanager.net/jp/"), activity(), "serviceurl"),
    (MULTI, claims(service_url="https://evil.example/"), activity("https://evil.example/"), "service URL"),
    (MULTI, claims(service_url=None), activity("https://evil.example/"), "service URL"),
    (MULTI, claims(), activity("http://smba.trafficmanager.net/jp/"), "serviceurl"),
    (MULTI, claims(service_url=None), activity("http://smba.trafficmanager.net/jp/"), "service URL"),
    (MULTI, claims(), activity(service_url=None), "service URL"),
    (MULTI, claims(service_url="https://smba.trafficmanager.net.evil.example/"),
     activity("https://smba.trafficmanager.net.evil.example/"), "service URL"),
    (MULTI, claims(service_url="https://x.botframework.com/"), activity("https://X.BotFramework.com/"), None),
    (SINGLE, claims(), activity(), None),
    (SINGLE, claims(f"https://sts.windows.net/{AAD_TENANT}/", tid=AAD_TENANT), activity(), None),
    (SINGLE, claims(f"https://login.microsoftonline.com/{AAD_TENANT}/v2.0", tid=AAD_TENANT),
     activity(), None),
    (SINGLE, claims(f"https://sts.windows.net/{OTHER_TENANT}/", tid=OTHER_TENANT), activity(), "issuer"),
    (SINGLE, claims(tid=OTHER_TENANT), activity(), "tenant"),
    (SINGLE, claims(), activity(tenant=OTHER_TENANT), "tenant"),
    (SINGLE, claims(), activity(tenant=None), "tenant"),
])
def test_inbound_policy(
    policy: InboundPolicy, token: dict[str, Any], act: dict[str, Any], reason: str | None
) -> None:
    refusal = policy.refusal(token, act)
    if reason is None:
        assert refusal is None
    else:
        assert refusal is not None and reason in refusal


def test_admin_listed_hosts_may_use_http() -> None:
    local = "http://127.0.0.1:3979/"
    policy = InboundPolicy.create(service_url_hosts=["127.0.0.1"])
    assert policy.refusal(claims(service_url=local), activity(local)) is None
    assert MULTI.refusal(claims(service_url=local), activity(local)) is not None
