"""The 照会 loop's manifest settings: where a tenant's inquiries go, who answers, where answers are kept."""

from __future__ import annotations

import pytest

from manifest.loader import ManifestError, load_manifest_text

BASE = """\
platforms:
  slack: {mode: http}
knowledge:
  collections:
    - {name: laws, kind: law, public: true}
    - {name: city-qa, kind: qa, owner: city}
    - {name: shared-qa, kind: qa}
    - {name: notices, kind: circular}
    - {name: open-qa, kind: qa, public: true}
tenants:
  - id: city
    name: テスト市
    collections: [laws, city-qa, shared-qa, notices, open-qa]
    inquiries:
      destination: {platform: slack, channel: C0HOUMU, name: 法務担当}
      responders: {users: [U0HOUMU]}
      collection: city-qa
"""


def errors_of(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(ManifestError) as info:
        load_manifest_text(text, "m.yaml")
    return [(e.line, e.path, e.message) for e in info.value.errors]


def test_a_tenant_names_its_destination_responders_and_collection() -> None:
    manifest = load_manifest_text(BASE, "m.yaml")
    config = manifest.tenants[0].inquiries
    assert config is not None
    assert (config.destination.platform, config.destination.channel) == ("slack", "C0HOUMU")
    assert config.responders.users == ["U0HOUMU"] and not config.responders.channel_members
    assert config.answerer == "法務担当"  # label omitted: the destination's name
    labelled = BASE.replace("collection: city-qa", "collection: shared-qa\n      label: 県市町村課")
    shared = load_manifest_text(labelled, "m.yaml")
    assert shared.tenants[0].inquiries is not None and shared.tenants[0].inquiries.answerer == "県市町村課"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("collection: city-qa", "collection: nowhere", "unknown collection 'nowhere'; knowledge.collections"),
        ("collection: city-qa", "collection: notices", "answers to inquiries go into a Q&A collection"),
        ("collection: city-qa", "collection: open-qa", "is public; answers to inquiries are internal"),
        ("platform: slack, channel", "platform: logo, channel",
         "inquiries go to logo but platforms.logo is not configured"),
        ("users: [U0HOUMU]", "users: []", "name the responders"),
    ],
)
def test_settings_that_cannot_work_are_refused_at_their_line(old: str, new: str, message: str) -> None:
    [(line, path, got)] = errors_of(BASE.replace(old, new))
    assert path.startswith("tenants[0].inquiries") and message in got
    keys = ("destination", "responders", "collection", "inquiries")
    assert BASE.splitlines()[line - 1].strip().startswith(keys)


def test_the_collection_must_be_searched_by_the_tenant_and_not_another_tenants() -> None:
    text = BASE.replace("collections: [laws, city-qa, shared-qa, notices, open-qa]", "collections: [laws]")
    got = errors_of(text)
    assert [(p, "add 'city-qa' to the tenant's collections" in m) for _, p, m in got] == [
        ("tenants[0].inquiries.collection", True)
    ]
    other = BASE.replace("owner: city}", "owner: town}") + "  - {id: town, name: 隣町, collections: [laws]}\n"
    messages = [m for _, _, m in errors_of(other)]
    assert any("collection 'city-qa' belongs to tenant 'town'" in m for m in messages)


def test_a_digest_includes_answered_inquiries_only_for_a_tenant_that_sends_them() -> None:
    digest = (
        "    channels:\n"
        "      - platform: slack\n"
        "        id: C0SOUMU\n"
        "        digests:\n"
        "          - {id: weekly, schedule: '0 9 * * mon', answered_inquiries: true}\n"
    )
    manifest = load_manifest_text(BASE.replace("    inquiries:\n", digest + "    inquiries:\n"), "m.yaml")
    assert manifest.tenants[0].channels[0].digests[0].answered_inquiries
    without = BASE.split("    inquiries:\n")[0] + digest
    [(_, path, message)] = errors_of(without)
    assert path == "tenants[0].channels[0].digests[0].answered_inquiries"
    assert "sends no inquiries" in message
