from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from manifest.loader import ManifestError, default_manifest, load_manifest, load_manifest_text
from manifest.schema import Manifest, json_schema, write_json_schema
from manifest.secrets import MissingSecret, required_env, secret_from_env

MANIFEST_DIR = Path(__file__).resolve().parents[2] / "manifest"
EXAMPLE = MANIFEST_DIR / "kairan.yaml"


def errors_of(text: str) -> list[tuple[int, int, str, str]]:
    with pytest.raises(ManifestError) as info:
        load_manifest_text(text, "m.yaml")
    return [(e.line, e.column, e.path, e.message) for e in info.value.errors]


# --- the documented example --------------------------------------------------------------------


def test_example_loads() -> None:
    m = load_manifest(EXAMPLE)
    assert m.data_dir == MANIFEST_DIR.parent / "data"
    names = ["laws", "circulars", "yokosuka-internal", "yokosuka-qa"]
    assert [c.name for c in m.knowledge.collections] == names
    assert m.knowledge.sources[1].path == MANIFEST_DIR.parent / "documents" / "yokosuka" / "reiki"
    assert m.knowledge.egov.laws[0] == "322AC0000000067"
    assert m.llm.provider == "none"
    assert m.platforms.slack is not None and m.platforms.slack.mode == "socket"
    found = m.find_channel("slack", "C05KAIRAN01")
    assert found is not None
    tenant, channel = found
    assert tenant.name == "横須賀市"
    assert tenant.collections_for(channel) == ["laws", "yokosuka-internal", "yokosuka-qa"]
    assert channel.digests[0].schedule == "30 8 * * mon-fri"
    console = m.find_channel("console", "console")
    assert console is not None and console[0].collections_for(console[1]) == tenant.collections
    assert m.find_channel("teams", "C05KAIRAN01") is None


def test_example_documents_every_key_japanese_first() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    seen: set[str] = set()
    undocumented = []
    for i, line in enumerate(lines):
        match = re.match(r"^\s*(?:- )?([a-z_]+):", line)
        if not match or match.group(1) in seen:
            continue
        seen.add(match.group(1))
        block: list[str] = []
        for prev in reversed(lines[:i]):
            if not prev.lstrip().startswith("#"):
                break
            block.insert(0, prev.strip())
        has_japanese = bool(block) and re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", block[0])
        has_english = any(re.search(r"(^#|/) [A-Za-z]", b) for b in block)
        if not (has_japanese and has_english):
            undocumented.append(line)
    assert undocumented == []
    assert len(seen) >= 30


def test_json_schema_file_is_current(tmp_path: Path) -> None:
    committed = MANIFEST_DIR / "kairan.schema.json"
    write_json_schema(tmp_path / "schema.json")
    assert committed.read_text(encoding="utf-8") == (tmp_path / "schema.json").read_text(encoding="utf-8"), (
        "run: python -m manifest.schema"
    )
    schema = json.loads(committed.read_text(encoding="utf-8"))
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {
        "version", "data_dir", "knowledge", "llm", "platforms", "tenants", "unlisted", "feeds", "redaction",
        "pricing", "state", "server",
    }
    assert schema == json_schema()


def test_default_manifest() -> None:
    m = default_manifest(base_dir=Path("/srv/kairan"))
    assert m.data_dir == Path("/srv/kairan/data")
    assert [t.id for t in m.tenants] == ["local"]
    assert [c.name for c in m.knowledge.collections] == ["laws"]
    assert m.llm.provider == "none"
    found = m.find_channel("console", "console")
    assert found is not None and found[0].collections_for(found[1]) == ["laws"]
    assert Manifest.model_validate(m.model_dump()) == m
    assert required_env(m) == []


# --- positions of errors -----------------------------------------------------------------------


def test_unknown_key_reports_its_line_with_suggestion() -> None:
    text = (
        "data_dir: ./data\nknowledge:\n"
        "  search:\n    default_k: 3\n    sufficency:\n      min_confidence: 0.5\n"
    )
    assert errors_of(text) == [
        (5, 5, "knowledge.search.sufficency", "unknown key 'sufficency'; did you mean 'sufficiency'?")
    ]


def test_unknown_key_without_close_match() -> None:
    got = errors_of("llm:\n  provider: none\nfrobnicate: 1\n")
    assert got == [(3, 1, "frobnicate", "unknown key 'frobnicate'")]


def test_wrong_type_reports_line_path_expected_type_and_value() -> None:
    text = "knowledge:\n  search:\n    default_k: five\n"
    [(line, col, path, message)] = errors_of(text)
    assert (line, col, path) == (3, 5, "knowledge.search.default_k")
    assert message.startswith("expected a valid integer") and message.endswith("got 'five'")

    [(line, _, path, message)] = errors_of("tenants:\n  id: x\n")
    assert (line, path) == (1, "tenants")
    assert message == "expected a valid list, got a mapping"

    [(line, _, path, message)] = errors_of("llm:\n  provider: claude\n")
    assert (line, path) == (2, "llm.provider")
    assert message == "expected 'none', 'anthropic', 'bedrock', 'vertex' or 'openai_compatible', got 'claude'"


def test_multiple_errors_are_all_reported_in_file_order() -> None:
    text = (
        "knowledge:\n"                       # 1
        "  embeddings:\n"                    # 2
        "    enabled: true\n"                # 3
        "    batch_size: 0\n"                # 4
        "tenants:\n"                         # 5
        "  - id: Yokosuka City\n"            # 6
        "    name: 横須賀市\n"                # 7
        "  - id: miura\n"                    # 8
        "    channels:\n"                    # 9
        "      - platform: line\n"           # 10
        "        id: C1\n"                   # 11
    )
    with pytest.raises(ManifestError) as info:
        load_manifest_text(text, "cfg/kairan.yaml")
    issues = [(e.line, e.path) for e in info.value.errors]
    assert issues == [
        (4, "knowledge.embeddings.batch_size"),
        (6, "tenants[0].id"),
        (8, "tenants[1].name"),  # missing key: the line of the mapping that lacks it
        (10, "tenants[1].channels[0].platform"),
    ]
    lines = str(info.value).splitlines()
    assert len(lines) == 4
    assert lines[0] == ("cfg/kairan.yaml:4:5: knowledge.embeddings.batch_size: "
                        "expected greater than or equal to 1, got 0")
    assert lines[2] == "cfg/kairan.yaml:8:5: tenants[1].name: missing required key 'name'"
    assert isinstance(info.value, ValueError)


def test_yaml_syntax_error_reports_line() -> None:
    [(line, _, path, message)] = errors_of("knowledge:\n  collections: [laws\nllm: {}\n")
    assert line == 3 and path == ""
    assert message.startswith("YAML syntax:") and "flow sequence" in message
    [(line, _, _, message)] = errors_of("llm:\n  provider: none\nllm:\n  provider: none\n")
    assert line == 3 and "duplicate key" in message


def test_merged_keys_point_at_the_mapping_that_merges_them() -> None:
    text = "knowledge:\n  search: &s\n    default_k: 3\n  embeddings:\n    <<: *s\n    batch_size: 2\n"
    assert errors_of(text) == [(4, 3, "knowledge.embeddings.default_k", "unknown key 'default_k'")]


def test_root_must_be_a_mapping() -> None:
    assert errors_of("- laws\n") == [
        (1, 1, "", "the manifest must be a mapping of keys "
                   "(version, data_dir, knowledge, llm, platforms, tenants, unlisted, feeds, redaction, "
                   "pricing, state, server), "
                   "got a list")
    ]


def test_empty_file_gives_defaults() -> None:
    m = load_manifest_text("", "empty.yaml", base_dir=Path("/x"))
    assert m.tenants == [] and m.data_dir == Path("/x/data")


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "kairan.yaml"
    path.write_bytes("llm:\n  model: 回覧\n".encode("shift_jis"))
    with pytest.raises(ManifestError, match=r"kairan.yaml:2:1: the manifest must be UTF-8"):
        load_manifest(path)


# --- secrets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("literal", ["sk-ant-api03-abcdef", "xoxb-1234-5678-abc", "AKIAIOSFODNN7EXAMPLE"])
def test_literal_secret_rejected(literal: str) -> None:
    text = f"platforms:\n  slack:\n    bot_token_env: {literal}\n"
    [(line, _, path, message)] = errors_of(text)
    assert (line, path) == (3, "platforms.slack.bot_token_env")
    assert "looks like a secret" in message and "environment variable" in message


def test_literal_secret_rejected_in_any_field() -> None:
    [(line, _, path, message)] = errors_of("llm:\n  provider: none\n  model: sk-proj-123\n")
    assert (line, path) == (3, "llm.model") and "*_env" in message


def test_env_field_must_be_a_variable_name() -> None:
    [(_, _, path, message)] = errors_of("llm:\n  api_key_env: my secret key\n")
    assert path == "llm.api_key_env"
    assert message.startswith("must be the NAME of an environment variable (e.g. SLACK_BOT_TOKEN)")


@pytest.mark.parametrize("value", [
    "8f14e45fceea167a5a36dedd4bea2543",  # a Slack signing secret (hex, starts with a digit)
    "Abc8Q~secretsecretsecret",  # an Entra client secret
    "my secret key",
])
def test_env_field_error_never_echoes_the_value_it_rejects(value: str) -> None:
    """Audit: an inline secret put where a variable name belongs came back in the error message."""
    text = f"platforms:\n  teams:\n    app_password_env: '{value}'\n"
    [(line, _, path, message)] = errors_of(text)
    assert (line, path) == (3, "platforms.teams.app_password_env")
    assert value not in message
    assert "NAME of an environment variable" in message


@pytest.mark.parametrize(("text", "secret"), [
    ("llm:\n  provider: openai_compatible\n  model: m\n"
     "  base_url: 'https://kairan:hunter2@llm.example/v1 '\n", "hunter2"),
    ("platforms:\n  logo:\n    url: 'wss://bot:hunter2@logo.example/ws x'\n    token_env: T\n", "hunter2"),
])
def test_url_error_never_echoes_embedded_credentials(text: str, secret: str) -> None:
    messages = [message for _, _, _, message in errors_of(text)]
    assert messages, "the URL must be refused"
    assert all(secret not in m for m in messages), messages


def test_provider_needing_a_key_must_name_env_var() -> None:
    [(line, _, path, message)] = errors_of("llm:\n  provider: anthropic\n  model: claude-sonnet-4-5\n")
    assert (line, path) == (2, "llm.provider")
    assert message.startswith("provider 'anthropic' needs api_key_env")
    text = "llm:\n  provider: anthropic\n  model: m\n  api_key_env: ANTHROPIC_API_KEY\n"
    ok = load_manifest_text(text, "m")
    assert ok.llm.api_key_env == "ANTHROPIC_API_KEY"
    messages = [e[3] for e in errors_of("llm:\n  provider: vertex\n  model: m\n")]
    assert messages == ["provider 'vertex' needs region", "provider 'vertex' needs project_id"]


def test_environ_check_reports_missing_variables_at_their_lines() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        load_manifest_text(text, "kairan.yaml", environ={"SLACK_BOT_TOKEN": "x"})
    lines = text.splitlines()
    got = [(lines[e.line - 1].strip(), e.message) for e in info.value.errors]
    assert got == [
        ("app_token_env: SLACK_APP_TOKEN", "environment variable SLACK_APP_TOKEN is not set"),
        ("token_env: LOGO_TOKEN", "environment variable LOGO_TOKEN is not set"),
    ]
    env = {"SLACK_BOT_TOKEN": "x", "SLACK_APP_TOKEN": "y", "LOGO_TOKEN": "z"}
    assert load_manifest_text(text, "kairan.yaml", environ=env).platforms.logo is not None


def test_secret_from_env() -> None:
    assert secret_from_env("SLACK_BOT_TOKEN", environ={"SLACK_BOT_TOKEN": "xoxb-1"}) == "xoxb-1"
    with pytest.raises(MissingSecret) as info:
        field = "platforms.slack.bot_token_env"
        secret_from_env("SLACK_BOT_TOKEN", field=field, environ={"SLACK_BOT_TOKEN": " "})
    assert str(info.value) == ("environment variable SLACK_BOT_TOKEN is not set "
                               "(the manifest's platforms.slack.bot_token_env names it)")
    assert info.value.env_name == "SLACK_BOT_TOKEN"


# --- paths -------------------------------------------------------------------------------------


def test_relative_paths_resolve_against_manifest_directory(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "kairan.yaml").write_text(
        "data_dir: ../state\n"
        "knowledge:\n"
        "  sources:\n"
        "    - {path: docs/reiki, collection: laws}\n"
        "    - {path: /srv/shared/laws, collection: laws}\n"
        "  embeddings: {enabled: true, model_dir: ./models/ruri}\n",
        encoding="utf-8",
    )
    m = load_manifest(conf / "kairan.yaml")
    assert m.data_dir == tmp_path.absolute() / "state"
    assert [s.path for s in m.knowledge.sources] == [conf.absolute() / "docs/reiki", Path("/srv/shared/laws")]
    assert m.knowledge.embeddings.model_dir == conf.absolute() / "models" / "ruri"


def test_embeddings_enabled_requires_model_dir() -> None:
    assert errors_of("knowledge:\n  embeddings:\n    enabled: true\n") == [
        (2, 3, "knowledge.embeddings.model_dir",
         "embeddings.enabled is true: set model_dir to a local directory holding a Japanese embedding model")
    ]


# --- cross references --------------------------------------------------------------------------

TENANTS = """\
knowledge:
  collections:
    - {name: laws, kind: law}
    - {name: yokosuka-internal, owner: yokosuka}
platforms:
  slack: {mode: http}
tenants:
  - id: yokosuka
    name: 横須賀市
    collections: [laws, yokosuka-internal]
    channels:
      - platform: slack
        id: C01
        collections: [laws, circulars]
"""


def test_knowledge_cross_references() -> None:
    text = (
        "knowledge:\n"
        "  sources:\n"
        "    - path: ./reiki\n"
        "      collection: reiki\n"          # 4
        "  egov:\n"
        "    laws: [地方自治法, 322AC0000000067, 地方自治法]\n"  # 6
    )
    got = [(line, path, message) for line, _, path, message in errors_of(text)]
    assert got == [
        (6, "knowledge.egov.laws[2]", "duplicate law '地方自治法'"),
    ]
    got = [(line, path, message) for line, _, path, message in errors_of(text.replace(", 地方自治法]", "]"))]
    assert got == [(4, "knowledge.sources[0].collection",
                    "unknown collection 'reiki'; knowledge.collections defines ['laws']")]


def test_channel_collection_outside_tenant_names_the_channel() -> None:
    [(line, col, path, message)] = errors_of(TENANTS)
    assert (line, col, path) == (14, 29, "tenants[0].channels[0].collections[1]")
    assert "channel 'C01' (slack)" in message and "'circulars'" in message


def test_tenant_cross_references() -> None:
    text = TENANTS.replace("[laws, circulars]", "[laws]") + (
        "  - id: miura\n"                               # 15
        "    name: 三浦市\n"                             # 16
        "    collections: [laws, yokosuka-internal, reiki]\n"  # 17
        "    channels:\n"                               # 18
        "      - {platform: slack, id: C01}\n"          # 19
        "      - {platform: logo, id: room-1}\n"        # 20
        "  - id: miura\n"                               # 21
        "    name: 三浦市（重複）\n"
    )
    got = [(line, path, message) for line, _, path, message in errors_of(text)]
    assert got == [
        (17, "tenants[1].collections[1]", "collection 'yokosuka-internal' belongs to tenant 'yokosuka'"),
        (17, "tenants[1].collections[2]",
         "unknown collection 'reiki'; knowledge.collections defines ['laws', 'yokosuka-internal']"),
        (19, "tenants[1].channels[0].id", "slack channel 'C01' is already mapped to tenant 'yokosuka'"),
        (20, "tenants[1].channels[1].platform",
         "channel 'room-1' is on logo but platforms.logo is not configured"),
        (21, "tenants[2]", "duplicate tenant id 'miura'"),
    ]


def test_digest_schedule_is_a_cron_expression() -> None:
    text = TENANTS.replace("[laws, circulars]", "[laws]") + (
        "        digests:\n"
        "          - {id: weekday, schedule: '30 8 * * mon-fri'}\n"
        "          - {id: bad-hour, schedule: '0 25 * * *'}\n"
        "          - {id: weekday, schedule: '0 8 * *'}\n"
    )
    got = [(line, path, message) for line, _, path, message in errors_of(text)]
    assert got == [
        (17, "tenants[0].channels[0].digests[1].schedule",
         "invalid cron hour '25' (allowed 0-23) in '0 25 * * *'"),
        (18, "tenants[0].channels[0].digests[2].schedule",
         "cron needs 5 fields (minute hour day month weekday), got '0 8 * *'"),
    ]
    fixed = text.replace("'0 25 * * *'", "'*/15 9-17 1,15 jan-mar 0'").replace("'0 8 * *'", "'0 8 * * *'")
    assert [e[3] for e in errors_of(fixed)] == ["duplicate subscription id 'weekday'"]


def test_model_used_directly_raises_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        Manifest.model_validate({"tenants": [{"id": "a", "name": "A", "collections": ["nope"]}]})
    assert [e["loc"] for e in info.value.errors()] == [("tenants", 0, "collections", 0)]


def test_statutes_go_only_into_a_law_collection() -> None:
    text = (
        "knowledge:\n"
        "  collections:\n"
        "    - {name: laws, kind: law}\n"
        "    - {name: notices, kind: circular}\n"          # 4
        "  egov:\n"
        "    collection: notices\n"                         # 6
        "    laws: [322AC0000000067]\n"
        "feeds:\n"
        "  - id: amendments\n"
        "    kind: egov_revisions\n"
        "    url: https://laws.e-gov.go.jp/api/2\n"
        "    collection: notices\n"                         # 12
        "    law_ids: [322AC0000000067]\n"
        "  - id: town\n"
        "    kind: rss\n"
        "    url: https://www.city.example.lg.jp/news.rss\n"
        "    collection: notices\n"
        "    allowed_hosts: [www.pref.example.lg.jp, 'mirror.city.example.lg.jp:8080']\n"
        "    internal_hosts: ['http://mirror/']\n"          # 19
    )
    [bad_host] = errors_of(text)  # field errors come first: cross-references are checked on a valid shape
    assert (bad_host[0], bad_host[2]) == (19, "feeds[1].internal_hosts[0]")
    assert "host name or address, optionally with :port" in bad_host[3]
    text = text.replace("'http://mirror/'", "'127.0.0.1:8080'")
    got = [(line, path, message) for line, _, path, message in errors_of(text)]
    assert [(line, path) for line, path, _ in got] == [
        (6, "knowledge.egov.collection"),
        (12, "feeds[0].collection"),
    ]
    why = "statutes go only into a law collection (kind law, cabinet_order or ministerial_ordinance)"
    for _, _, message in got:
        assert "'notices' is a circular collection" in message and why in message
