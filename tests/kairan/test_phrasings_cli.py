"""``kairan ingest`` with ``knowledge.phrasings.generate`` and ``kairan phrasings generate|export|coverage``,
through click's CliRunner, with the real anthropic SDK against the fake server on 127.0.0.1.

The CLI runs its own event loop: it is called from a worker thread while the server serves here.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner, Result
from ruamel.yaml import YAML

from kairan.cli import cli
from knowledge.parsers import parse_bytes
from knowledge.phrasings import SHIPPED_DIR, load_file
from knowledge.store import KnowledgeStore
from tests.conftest import CORPUS
from tests.fakes.llm_servers import FakeAnthropicServer
from tests.fakes.phrasing_llm import PhrasingResponder

KEY_ENV = "KAIRAN_TEST_ANTHROPIC_KEY"
LAW_ID = "999AC0000000001"
ARTICLE_2 = "任命権者は、職員の勤務能率の発揮及び増進のために、研修を行わなければならない。"
LAW = (
    "# 職員研修法\n\n*（令和七年法律第九百九十九号）*\n\n\n"
    '<a id="第一条"></a>\n**第一条**\n（目的）\nこの法律は、職員の研修に関し必要な事項を定める。\n\n'
    f'<a id="第二条"></a>\n**第二条**\n（研修の実施）\n{ARTICLE_2}\n\n'
    '<a id="第三条"></a>\n**第三条**\n削除\n\n'
    '<a id="第四条"></a>\n**第四条**\n（研修計画）\n任命権者は、毎年度、研修計画を定める。\n\n'
    '附　則\n\n<a id="第一条"></a>\n**第一条**\nこの法律は、公布の日から施行する。\n'
)


def write_manifest(
    tmp_path: Path, server: FakeAnthropicServer | None, *, generate: bool, files: str = "", batch: int = 8
) -> Path:
    llm = (
        f"llm:\n  provider: anthropic\n  model: claude-test\n  api_key_env: {KEY_ENV}\n"
        f"  base_url: {server.base_url}\n  timeout_s: 10\n"
        if server
        else ""
    )
    manifest = tmp_path / "kairan.yaml"
    manifest.write_text(
        f"version: 1\ndata_dir: {tmp_path / 'data'}\n"
        f"state:\n  url: sqlite:///{tmp_path / 'state.db'}\n"
        "pricing:\n  currency: JPY\n  models:\n"
        "    claude-test: {input_per_mtok: 450, output_per_mtok: 2250}\n"
        f"knowledge:\n  phrasings:\n    generate: {str(generate).lower()}\n    files: [{files}]\n"
        f"    batch_articles: {batch}\n" + llm,
        "utf-8",
    )
    return manifest


def invoke(args: list[str], manifest: Path) -> Result:
    return CliRunner().invoke(cli, [*args, "--manifest", str(manifest)], env={KEY_ENV: "test-key"})


async def run(args: list[str], manifest: Path) -> Result:
    return await asyncio.to_thread(invoke, args, manifest)


def law_file(tmp_path: Path, text: str = LAW) -> Path:
    path = tmp_path / "laws" / f"{LAW_ID}.md"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, "utf-8")
    return path


async def test_ingest_generates_once_and_again_only_for_a_changed_article(tmp_path: Path) -> None:
    async with FakeAnthropicServer(api_key="test-key") as server:
        responder = PhrasingResponder()
        server.respond(responder, usage={"input_tokens": 900, "output_tokens": 120})
        manifest = write_manifest(tmp_path, server, generate=True)
        law = law_file(tmp_path)
        first = await run(["ingest", str(law)], manifest)
        assert first.exit_code == 0, first.output
        # Articles 1, 2 and 4 in one request (第三条 削除 and the 附則 are not sent).
        assert responder.asked == [["第一条", "第二条", "第四条"]]
        assert "言い方生成 generate 3/3" in first.stderr  # progress, as the other stages
        assert "generated phrasings: 3 articles asked in 1 documents, 6 lines for 3" in first.stderr
        assert "900 input / 120 output tokens" in first.stderr
        assert "職員の言い方: 6 行を索引 (追加 6, 削除 0)" in first.stderr
        generated = load_file(tmp_path / "data" / "phrasings" / f"{LAW_ID}.yaml", origin="generated")
        assert list(generated.articles) == ["1", "2", "4"]
        # The tokens are in the usage report, on a row of their own.
        usage = invoke(["usage", "report", "--csv"], manifest)
        assert usage.exit_code == 0, usage.output
        assert "(phrasings),anthropic,claude-test,1,900,120" in usage.stdout

        again = await run(["ingest", str(law)], manifest)
        assert again.exit_code == 0, again.output
        assert len(server.requests) == 1  # unchanged: nothing sent

        law_file(tmp_path, LAW.replace(ARTICLE_2, "任命権者は、職員の研修を行う。"))
        changed = await run(["ingest", str(law)], manifest)
        assert changed.exit_code == 0, changed.output
        assert len(server.requests) == 2 and responder.asked[-1] == ["第二条"]
        assert "任命権者は、職員の研修を行う。" in json.dumps(server.requests[-1].body, ensure_ascii=False)


async def test_generate_command_reports_a_malformed_reply_and_continues(tmp_path: Path) -> None:
    async with FakeAnthropicServer(api_key="test-key") as server:
        # One article per request, to see one batch fail and the others succeed.
        manifest = write_manifest(tmp_path, server, generate=False, batch=1)
        ingested = await run(["ingest", str(law_file(tmp_path))], manifest)
        assert ingested.exit_code == 0 and server.requests == []  # generate: false → no LLM at ingest
        server.respond(PhrasingResponder(malformed_when="研修計画"))
        result = await run(["phrasings", "generate", LAW_ID], manifest)
        assert result.exit_code == 1, result.output
        assert "職員研修法 第四条: malformed reply: not JSON" in result.stderr
        assert "3 requests" in result.stderr and "4 lines for 2" in result.stderr
        generated = load_file(tmp_path / "data" / "phrasings" / f"{LAW_ID}.yaml", origin="generated")
        assert list(generated.articles) == ["1", "2"]
        indexed = KnowledgeStore(tmp_path / "data").phrasings.to_arrow().to_pylist()  # by the command
        assert sorted((r["article"], r["origin"]) for r in indexed) == [("1", "generated")] * 2 + [
            ("2", "generated")
        ] * 2

        server.respond(responder := PhrasingResponder())
        retried = await run(["phrasings", "generate"], manifest)
        assert retried.exit_code == 0, retried.output
        assert responder.asked == [["第四条"]]

        unknown = invoke(["phrasings", "generate", "000AC0000000000"], manifest)
        assert unknown.exit_code == 1 and "not in the knowledge base: 000AC0000000000" in unknown.output


def test_generate_command_needs_an_llm(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, None, generate=True)
    assert invoke(["ingest", str(law_file(tmp_path))], manifest).exit_code == 0
    result = invoke(["phrasings", "generate"], manifest)
    assert result.exit_code == 1 and "configure an LLM" in result.output


async def test_export_and_coverage(tmp_path: Path) -> None:
    admin = tmp_path / "mine.yaml"
    admin.write_text(f'doc_id: "{LAW_ID}"\ntitle: 職員研修法\narticles:\n  "1":\n    - 研修法の目的\n')
    async with FakeAnthropicServer(api_key="test-key") as server:
        server.respond(PhrasingResponder())
        manifest = write_manifest(tmp_path, server, generate=True, files=str(admin))
        result = await run(["ingest", str(law_file(tmp_path))], manifest)
        assert result.exit_code == 0, result.output
    # The admin's line for 第一条 takes precedence: generated are 第二条 and 第四条 only.
    exported = invoke(["phrasings", "export", LAW_ID], manifest)
    assert exported.exit_code == 0, exported.output
    text = exported.stdout
    assert text.startswith("# 職員研修法 — 職員の言い方（admin・generated から書き出し）\n")
    assert '  "1":  # 第一条 [admin]\n    - 研修法の目的\n  "2":  # 第二条 [generated]\n' in text
    data = YAML(typ="safe").load(text)
    assert list(data["articles"]) == ["1", "2", "4"] and data["doc_id"] == LAW_ID
    out = tmp_path / "review.yaml"
    only = invoke(["phrasings", "export", LAW_ID, "--origin", "generated", "-o", str(out)], manifest)
    assert only.exit_code == 0, only.output
    assert list(load_file(out, origin="admin").articles) == ["2", "4"]
    missing = invoke(["phrasings", "export", "000AC0000000000"], manifest)
    assert missing.exit_code == 1 and "no phrasings for this document" in missing.output

    coverage = invoke(["phrasings", "coverage", "--json"], manifest)
    assert coverage.exit_code == 0, coverage.output
    (row,) = json.loads(coverage.stdout)["documents"]
    # 3 main-provision articles (第三条 削除 and the 附則 do not count); 1 admin + 2 generated covered,
    # the generated ones with the LLM's everyday words as well.
    assert row == {
        "doc_id": LAW_ID, "title": "職員研修法", "kind": "law", "articles": 3, "covered": 3, "share": 1.0,
        "lines": 5, "words": 2, "by_origin": {"shipped": 0, "admin": 1, "generated": 2},
    }
    table = invoke(["phrasings", "coverage"], manifest)
    assert table.exit_code == 0 and LAW_ID in table.stdout and "計 total" in table.stdout


def test_coverage_of_the_shipped_files_on_the_corpus(tmp_path: Path, corpus_data_dir: Path) -> None:
    """The table's numbers for 地方公務員法, against the law parsed afresh and its shipped file."""
    manifest = tmp_path / "kairan.yaml"
    manifest.write_text(f"version: 1\ndata_dir: {corpus_data_dir}\nstate:\n  url: sqlite:///{tmp_path}/s.db\n")
    result = invoke(["phrasings", "coverage", "--json"], manifest)
    assert result.exit_code == 0, result.output
    rows = {r["doc_id"]: r for r in json.loads(result.stdout)["documents"]}
    law_id = "325AC0000000261"
    (source,) = (p for p in (CORPUS / "egov_html").glob(f"{law_id}_*") if p.is_file())
    doc = parse_bytes(source.read_bytes(), str(source))
    main = [s.key for s in doc.sections if s.part == "main" and s.text.strip() != "削除"]
    shipped = load_file(SHIPPED_DIR / f"{law_id}.yaml", origin="shipped")
    row = rows[law_id]
    assert (row["articles"], row["covered"]) == (len(main), len(set(main) & set(shipped.articles)))
    assert row["by_origin"] == {"shipped": row["covered"], "admin": 0, "generated": 0}
    assert row["lines"] == shipped.line_count
    assert row["words"] == len(set(main) & set(shipped.words)) == row["covered"]
    assert all(r["kind"] != "qa" for r in rows.values())


async def test_a_file_that_cannot_be_read_keeps_the_stored_lines(tmp_path: Path) -> None:
    admin = tmp_path / "mine.yaml"
    good = (
        f'doc_id: "{LAW_ID}"\ntitle: 職員研修法\narticles:\n'
        '  "1":\n    - 研修法の目的\n  "2":\n    - 研修は誰がする？\n'
    )
    admin.write_text(good, "utf-8")
    manifest = write_manifest(tmp_path, None, generate=False, files=str(admin))
    law = law_file(tmp_path)
    assert invoke(["ingest", str(law)], manifest).exit_code == 0
    stored = KnowledgeStore(tmp_path / "data").line_texts()
    assert sorted(a for _, a, _ in stored) == ["1", "2"]

    # The admin edits the file and leaves it broken: eleven lines for 第二条, one too many.
    admin.write_text(good + "".join(f"    - 研修の行{n}\n" for n in range(10)), "utf-8")
    broken = invoke(["ingest", str(law)], manifest)
    assert broken.exit_code == 0, broken.output  # reported as the ingest reports a broken document
    said = broken.stderr.replace("\n", "")  # the console wraps at 80 columns
    assert f"{admin}:6: article 2: at most 10 lines" in said
    assert "索引と判別モデルは前回のままです (2 行)" in said
    assert KnowledgeStore(tmp_path / "data").line_texts() == stored  # not taken for deleted lines

    async with FakeAnthropicServer(api_key="test-key") as server:
        server.respond(PhrasingResponder())
        with_llm = write_manifest(tmp_path, server, generate=False, files=str(admin))
        generate = await run(["phrasings", "generate"], with_llm)
        assert generate.exit_code == 1 and "at most 10 lines" in generate.stderr.replace("\n", "")
        assert server.requests == []  # 第一条 and 第二条 are not bare: nothing is asked for them
    assert "Traceback" not in generate.output

    admin.write_text(good.replace("研修は誰がする？", "研修は誰が行う？"), "utf-8")
    fixed = invoke(["ingest", str(law)], manifest)
    assert fixed.exit_code == 0, fixed.output
    assert "職員の言い方: 2 行を索引 (追加 1, 削除 1)" in fixed.stderr.replace("\n", "")
