"""The persistent Teams store and the factory that builds the adapter from the manifest."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from microsoft_agents.authentication.msal import MsalConnectionManager

from adapters.teams.factory import build_teams_adapter, teams_auth_configuration
from adapters.teams.references import ConversationStore
from bot.state.db import open_database
from bot.state.inflight import InFlight
from manifest.schema import Manifest
from manifest.secrets import MissingSecret
from tests.adapters.teams.conftest import APP_ID, ENV, teams_manifest
from tests.fakes.engines import FailingEngine
from tests.fakes.runtime import platform_runtime

REFERENCE = {
    "bot": {"id": f"28:{APP_ID}"},
    "channelId": "msteams",
    "conversation": {"id": "19:abc@thread.tacv2"},
    "serviceUrl": "https://smba.trafficmanager.net/jp/",
}


def test_references_survive_a_reopened_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with open_database(url) as db:
        store = ConversationStore(db)
        store.save(
            "19:abc@thread.tacv2",
            REFERENCE,
            conversation_type="channel",
            aad_tenant_id="t",
            team_id="19:team@thread.tacv2",
        )
        store.save("a:1xyz", {**REFERENCE, "conversation": {"id": "a:1xyz"}}, conversation_type="personal")
        store.link_answer("19:abc@thread.tacv2", "1748824269001", "7d4f3c2a-1b0e-4d9c-8a7b-6c5d4e3f2a1b")
        assert store.mark_uninstalled("a:1xyz") is True
        assert store.mark_uninstalled("a:unknown") is False

    with open_database(url) as db:
        store = ConversationStore(db)
        stored = store.get("19:abc@thread.tacv2")
        assert stored is not None and stored.reference == REFERENCE and stored.installed
        assert (stored.conversation_type, stored.team_id) == ("channel", "19:team@thread.tacv2")
        assert [c.conversation_id for c in store.all()] == ["19:abc@thread.tacv2"]
        assert [c.conversation_id for c in store.all(installed_only=False)] == [
            "19:abc@thread.tacv2",
            "a:1xyz",
        ]
        assert (
            store.audit_id_for("19:abc@thread.tacv2", "1748824269001")
            == "7d4f3c2a-1b0e-4d9c-8a7b-6c5d4e3f2a1b"
        )
        assert store.audit_id_for("a:1xyz", "1748824269001") is None
        store.save("a:1xyz", REFERENCE, conversation_type="personal")  # reinstalled
        assert store.get("a:1xyz").installed  # type: ignore[union-attr]


def test_factory_returns_none_without_teams_and_reads_secrets_from_env(tmp_path: Path) -> None:
    with open_database(f"sqlite:///{tmp_path / 'state.db'}") as db:
        engine = FailingEngine(RuntimeError("unused"))
        assert build_teams_adapter(platform_runtime(Manifest(), db, engine, environ=ENV)) is None

        adapter = build_teams_adapter(platform_runtime(teams_manifest(), db, engine, environ=ENV))
        assert adapter is not None and adapter.name == "teams" and not adapter.connected()
        assert adapter.settings.app_id == APP_ID and adapter.settings.aad_tenant_id is None
        assert adapter.auth.CLIENT_ID == APP_ID and adapter.auth.TENANT_ID == "botframework.com"
        assert isinstance(adapter.app.connection_manager, MsalConnectionManager)
        inflight = adapter.flow.inflight
        assert isinstance(inflight, InFlight) and inflight.db is db  # resumed by a replica

        with pytest.raises(MissingSecret, match="TEAMS_APP_PASSWORD is not set"):
            only_id = {"TEAMS_APP_ID": APP_ID}
            build_teams_adapter(platform_runtime(teams_manifest(), db, engine, environ=only_id))


def test_single_tenant_app_takes_the_tenant_from_env() -> None:
    manifest = Manifest.model_validate({"platforms": {"teams": {"tenant_id_env": "TEAMS_TENANT_ID"}}})
    auth = teams_auth_configuration(
        manifest, {**ENV, "TEAMS_TENANT_ID": "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6"}
    )
    assert auth.TENANT_ID == "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6"
    assert ENV["TEAMS_APP_PASSWORD"] == auth.CLIENT_SECRET
    with pytest.raises(MissingSecret, match="TEAMS_TENANT_ID"):
        teams_auth_configuration(manifest, ENV)


def test_replicas_saving_the_same_conversation_at_once_do_not_collide(state_url: str) -> None:
    """Every message saves its conversation's reference; behind a load balancer two replicas save
    the same one at the same moment. A select-then-insert lost that race with a unique violation on
    PostgreSQL; the upsert (INSERT … ON CONFLICT DO UPDATE) keeps the last one written."""
    with open_database(state_url) as db:
        stores = [ConversationStore(db) for _ in range(8)]
        start = threading.Barrier(len(stores))
        errors: list[BaseException] = []

        def save(store: ConversationStore, n: int) -> None:
            start.wait()
            try:
                store.save("19:abc@thread.tacv2", {**REFERENCE, "n": n}, conversation_type="channel")
                store.link_answer("19:abc@thread.tacv2", "1748824269001", f"audit-{n}")
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=save, args=(s, n)) for n, s in enumerate(stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        [stored] = stores[0].all()
        assert stored.reference["n"] in range(len(stores))
        assert stores[0].audit_id_for("19:abc@thread.tacv2", "1748824269001") in {
            f"audit-{n}" for n in range(len(stores))
        }
