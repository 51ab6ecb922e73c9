"""One scope resolution for every platform, the console and the CLI (manifest.scope)."""

from __future__ import annotations

from typing import Any

import pytest

from manifest.schema import Manifest
from manifest.scope import LOCAL_TENANT, Scope, scope_for, tenant_scope


def manifest(**extra: Any) -> Manifest:
    """Two municipalities on Slack, one with an internal collection; laws and circulars are public."""
    return Manifest.model_validate({
        "knowledge": {"collections": [
            {"name": "laws", "public": True},
            {"name": "circulars", "public": True},
            {"name": "a-internal", "owner": "a"},
        ]},
        "platforms": {"slack": {"mode": "socket"}, "logo": {"url": "wss://logo.example.lg.jp/api"}},
        "tenants": [
            {"id": "a", "name": "A市", "collections": ["laws", "a-internal"],
             "channels": [{"platform": "slack", "id": "C0A", "collections": ["a-internal"]},
                          {"platform": "slack", "id": "C0A2"},
                          {"platform": "console", "id": "console"}]},
            {"id": "b", "name": "B町", "collections": ["laws", "circulars"],
             "channels": [{"platform": "logo", "id": "C0A"}]},
        ],
        **extra,
    })


def single_tenant(**extra: Any) -> Manifest:
    """One municipality with an internal collection and one listed channel limited to laws."""
    return Manifest.model_validate({
        "knowledge": {"collections": [{"name": "laws", "public": True}, {"name": "city-internal"}]},
        "platforms": {"slack": {"mode": "socket"}},
        "tenants": [{"id": "city", "name": "C市", "collections": ["laws", "city-internal"],
                     "channels": [{"platform": "slack", "id": "C0LAWS", "collections": ["laws"]}]}],
        **extra,
    })


def test_a_listed_conversation_gets_its_tenant_and_the_channels_collections() -> None:
    m = manifest()
    assert scope_for(m, "slack", ["C0A"]) == Scope("a", ("a-internal",))
    assert scope_for(m, "slack", ["C0A2"]) == Scope("a", ("laws", "a-internal"))
    assert scope_for(m, "logo", ["C0A"]) == Scope("b", ("laws", "circulars"))  # ids are per platform
    assert scope_for(m, "console", ["console"]) == Scope("a", ("laws", "a-internal"))
    # The first id that is listed wins (Teams: conversation, then team, then Entra tenant).
    assert scope_for(m, "slack", ["C0UNLISTED", "C0A"]) == Scope("a", ("a-internal",))


def test_without_tenants_every_conversation_searches_everything() -> None:
    assert scope_for(Manifest(), "slack", ["C0X"]) == Scope(LOCAL_TENANT, None)
    assert scope_for(Manifest(), "cli", []) == Scope("local", None)
    assert Scope("local", None).searchable is None
    assert Scope("a", ("laws",)).searchable == ["laws"]


def test_an_unlisted_channel_never_gets_a_tenants_internal_collection() -> None:
    """Issue 16, item 9: with one tenant, a channel nobody listed (a Slack Connect channel shared
    with another organisation, say) was answered from the tenant's internal collection, while the
    listed channel was limited to laws."""
    m = single_tenant()
    assert scope_for(m, "slack", ["C0LAWS"]) == Scope("city", ("laws",))
    assert scope_for(m, "slack", ["C0SHARED"]) == Scope("city", ("laws",))  # only what is public
    assert scope_for(m, "slack", ["D0ANYDM"]) == Scope("city", ("laws",))


def test_the_admin_chooses_whether_unlisted_conversations_are_answered() -> None:
    refusing = single_tenant(unlisted={"access": "none"})
    assert scope_for(refusing, "slack", ["C0SHARED"]) is None
    assert scope_for(refusing, "slack", ["C0LAWS"]) == Scope("city", ("laws",))
    nothing_public = Manifest.model_validate({
        "knowledge": {"collections": [{"name": "laws"}]},
        "tenants": [{"id": "city", "name": "C市"}],
    })
    assert scope_for(nothing_public, "slack", ["C0X"]) is None


def test_with_several_tenants_an_unlisted_conversation_needs_a_named_tenant() -> None:
    m = manifest()
    assert scope_for(m, "slack", ["C0UNKNOWN"]) is None  # whose budget? never guessed
    assert scope_for(m, "console", ["elsewhere"]) is None
    named = manifest(unlisted={"tenant": "b"})
    assert scope_for(named, "slack", ["C0UNKNOWN"]) == Scope("b", ("laws", "circulars"))
    assert scope_for(named, "slack", ["C0A"]) == Scope("a", ("a-internal",))  # listed: unchanged
    # LoGo's default_tenant is the same choice for LoGo talks only, and wins over unlisted.tenant.
    logo = manifest(platforms={"logo": {"url": "wss://logo.example.lg.jp/api", "default_tenant": "a"},
                               "slack": {"mode": "socket"}})
    assert scope_for(logo, "logo", ["12345"]) == Scope("a", ("laws",))
    assert scope_for(logo, "slack", ["C0UNKNOWN"]) is None


def test_a_tenant_named_outright() -> None:
    assert tenant_scope(manifest(), "b") == Scope("b", ("laws", "circulars"))
    assert tenant_scope(manifest(), "nobody") is None
    assert tenant_scope(Manifest(), "anyone") == Scope("anyone", None)


def test_the_manifest_refuses_contradictions() -> None:
    with pytest.raises(ValueError, match="belongs to tenant 'a' and cannot be public"):
        Manifest.model_validate({
            "knowledge": {"collections": [{"name": "laws"}, {"name": "x", "owner": "a", "public": True}]},
            "tenants": [{"id": "a", "name": "A市"}],
        })
    with pytest.raises(ValueError, match="no tenant with id 'z'"):
        Manifest.model_validate({"tenants": [{"id": "a", "name": "A市"}], "unlisted": {"tenant": "z"}})
    assert Manifest().knowledge.collections[0].public  # the built-in laws collection is public
