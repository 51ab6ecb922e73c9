import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kairan.cli import cli
from tests.conftest import CORPUS, DEV_SET
from tests.fakes.egov_server import EgovMockServer


def test_search_json_shape(corpus_data_dir: Path) -> None:
    result = CliRunner().invoke(
        cli, ["search", "自治法238条の4", "--json", "-k", "3", "--data-dir", str(corpus_data_dir)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["query"] == "自治法238条の4" and data["sufficient"] is True
    assert len(data["hits"]) == 3
    top = data["hits"][0]
    assert top["rank"] == 1
    assert (top["doc_id"], top["article"], top["title"]) == ("322AC0000000067", "238_4", "地方自治法")
    assert top["caption"] == "（行政財産の管理及び処分）"
    assert top["url"] == "https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4"
    assert isinstance(top["score"], float) and top["text"].startswith("行政財産は、次項から第四項まで")


def test_search_shows_the_sentences_it_set_aside(corpus_data_dir: Path) -> None:
    aside = "今日は朝から忙しくて、お昼もまだ食べていません。"
    question = f"{aside}\n職員が副業をするのに許可は要る？"
    result = CliRunner().invoke(cli, ["search", question, "--data-dir", str(corpus_data_dir)])
    assert result.exit_code == 0, result.output
    shown_text = "".join(result.stdout.split())  # rich wraps lines at the terminal's width
    assert f"質問と関係のない文として除外setaside:{aside}" in shown_text
    as_json = CliRunner().invoke(cli, ["search", question, "--json", "--data-dir", str(corpus_data_dir)])
    assert json.loads(as_json.stdout)["asides"] == [aside]


def test_search_on_empty_knowledge_base_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["search", "質問", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "知識ベースが空です" in result.stderr


def test_eval_retrieval_json(corpus_data_dir: Path) -> None:
    result = CliRunner().invoke(
        cli, ["eval", "retrieval", str(DEV_SET), "--json", "--data-dir", str(corpus_data_dir)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["by_kind"]) == {"semantic", "citation"}
    assert data["by_kind"]["citation"]["R@1"] == 1.0
    assert data["abstention"]["unanswerable"] == 2
    for miss in data["misses"]:
        assert {"id", "question", "gold", "rank", "top3"} <= set(miss)
    laws = {law["law"]: law for law in data["by_law"]}
    assert laws["地方自治法"]["doc_ids"] == ["322AC0000000067"]
    assert sum(law["count"] for law in laws.values()) == data["by_kind"]["semantic"]["count"]


def test_eval_retrieval_prints_the_figures_per_law_when_asked(corpus_data_dir: Path) -> None:
    args = ["eval", "retrieval", str(DEV_SET), "--data-dir", str(corpus_data_dir)]
    plain = CliRunner().invoke(cli, args)
    by_law = CliRunner().invoke(cli, [*args, "--by-law"])
    assert plain.exit_code == 0 and by_law.exit_code == 0, by_law.output
    assert "semantic questions by law" not in plain.stdout
    assert "semantic questions by law" in by_law.stdout and "地方自治法" in by_law.stdout


def test_eval_rejects_a_malformed_dataset(tmp_path: Path, corpus_data_dir: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "question": "q", "kind": "semantic"}\nnot json\n', "utf-8")
    result = CliRunner().invoke(cli, ["eval", "retrieval", str(bad), "--data-dir", str(corpus_data_dir)])
    assert result.exit_code == 1
    assert "bad.jsonl:2" in result.output


def test_ingest_reports_errors_with_file_names(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text("<Law><LawBody>", "utf-8")
    good = CORPUS / "xml" / "405AC0000000088_20240401_504AC0100000052.xml"
    data = tmp_path / "data"
    result = CliRunner().invoke(
        cli, ["ingest", str(broken), str(good), "--data-dir", str(data), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "追加 1 件" in result.stderr
    assert "broken.xml" in result.stderr
    again = CliRunner().invoke(cli, ["ingest", str(good), "--data-dir", str(data), "--workers", "1"])
    assert "変更なし 1 件" in again.stderr


def test_ingest_egov_against_local_server(tmp_path: Path) -> None:
    import asyncio

    async def run() -> tuple[Result, str]:
        async with EgovMockServer(CORPUS) as server:
            runner = CliRunner()
            # The CLI runs its own event loop: call it from a worker thread.
            result = await asyncio.to_thread(
                runner.invoke,
                cli,
                [
                    "ingest",
                    "egov",
                    "行政手続法",
                    "504CO0000000187",
                    "存在しない法律",
                    "--egov-base-url",
                    server.base_url,
                    "--data-dir",
                    str(tmp_path),
                    "--workers",
                    "1",
                ],
            )
            return result, server.base_url

    result, _ = asyncio.run(run())
    assert result.exit_code == 0, result.output
    assert "追加 2 件" in result.stderr
    assert "存在しない法律" in result.stderr
    search = CliRunner().invoke(cli, ["search", "行手法5条", "--json", "--data-dir", str(tmp_path)])
    assert json.loads(search.stdout)["hits"][0]["article"] == "5"


@pytest.mark.parametrize("args", [["ingest"], ["ingest", "egov"]])
def test_ingest_usage_errors(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2


def test_manifest_validate(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    ok = CliRunner().invoke(cli, ["manifest", "validate", "--no-env", str(repo / "manifest" / "kairan.yaml")])
    assert ok.exit_code == 0, ok.output
    llm = tmp_path / "llm.yaml"
    llm.write_text(
        "llm:\n  provider: anthropic\n  model: claude-sonnet-4-6\n  api_key_env: KAIRAN_TEST_KEY\n", "utf-8"
    )
    unset = CliRunner().invoke(cli, ["manifest", "validate", str(llm)], env={"KAIRAN_TEST_KEY": None})
    assert unset.exit_code == 1 and "llm.yaml:4" in unset.stderr and "KAIRAN_TEST_KEY" in unset.stderr
    set_ = CliRunner().invoke(cli, ["manifest", "validate", str(llm)], env={"KAIRAN_TEST_KEY": "x"})
    assert set_.exit_code == 0, set_.output
    bad = tmp_path / "m.yaml"
    bad.write_text("version: 1\ndata_dirr: ./x\n", "utf-8")
    result = CliRunner().invoke(cli, ["manifest", "validate", str(bad)])
    assert result.exit_code == 1
    assert "m.yaml:2" in result.stderr and "data_dirr" in result.stderr


def test_manifest_teams_builds_the_app_package(tmp_path: Path) -> None:
    import zipfile

    bot_id = "00000000-0000-0000-0000-0000000000ab"
    out = tmp_path / "kairan-teams.zip"
    pages = ["--website-url", "https://www.city.example.lg.jp/kairan", "--privacy-url",
             "https://www.city.example.lg.jp/privacy", "--terms-url", "https://www.city.example.lg.jp/terms"]
    result = CliRunner().invoke(
        cli, ["manifest", "teams", "--out", str(out), "--bot-id", bot_id, *pages], env={"TEAMS_APP_ID": ""}
    )
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["bots"][0]["botId"] == bot_id
    assert set(manifest["bots"][0]["scopes"]) == {"personal", "team", "groupChat"}
    missing = CliRunner().invoke(cli, ["manifest", "teams", "--out", str(out)], env={"TEAMS_APP_ID": ""})
    assert missing.exit_code == 1 and "TEAMS_APP_ID" in missing.output
