"""``kairan ask``, ``kairan audit verify`` and ``kairan usage report`` through click's CliRunner.

The knowledge base is the session's corpus build; the state database lives in tmp_path (the
manifest's state.url), so nothing is written beside the shared index.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from click.testing import CliRunner, Result

from bot.prompt import REWRITE_SYSTEM
from bot.state.usage import current_month
from kairan.cli import cli
from tests.fakes.llm_servers import FakeAnthropicServer

CAFE = "行政財産である庁舎の空きスペースを民間のカフェに貸すことはできますか？"
UNANSWERABLE = "ふるさと納税の返礼品は寄附額の何割までですか"
KEY_ENV = "KAIRAN_TEST_ANTHROPIC_KEY"
REWRITE = "行政財産である庁舎の余裕部分を民間事業者に貸し付けることができるか"
FAITHFUL = (
    "行政財産は、原則として「これを貸し付け、交換し、売り払い、譲与し、出資の目的とし、若しくは信託し、"
    "又はこれに私権を設定することができない」とされています[1]。"
)


@dataclass
class RewritingServer(FakeAnthropicServer):
    """Answers the (non-streamed) query-rewrite request with a plausible rewrite, the rest as scripted."""

    rewrite: str = REWRITE

    async def _answer(
        self, request: web.Request, body: Any, model: str, stream: bool, framing: str
    ) -> web.StreamResponse:
        if not _is_rewrite(body):
            return await super()._answer(request, body, model, stream, framing)
        scripted = self._reply
        self.script(self.rewrite, usage=scripted.usage if scripted else None)
        try:
            return await super()._answer(request, body, model, stream, framing)
        finally:
            self._reply = scripted


def _is_rewrite(body: Any) -> bool:
    system = body.get("system") or ""
    text = system if isinstance(system, str) else " ".join(b.get("text", "") for b in system)
    return text.strip() == REWRITE_SYSTEM.strip()


def llm_section(server: FakeAnthropicServer) -> str:
    return (
        "llm:\n  provider: anthropic\n  model: claude-test\n"
        f"  api_key_env: {KEY_ENV}\n  base_url: {server.base_url}\n  timeout_s: 10\n"
    )


def write_manifest(tmp_path: Path, data_dir: Path, *, llm: str = "") -> Path:
    manifest = tmp_path / "kairan.yaml"
    manifest.write_text(
        f"version: 1\n"
        f"data_dir: {data_dir}\n"
        f"state:\n  url: sqlite:///{tmp_path / 'state' / 'state.db'}\n"
        "tenants:\n  - id: yokosuka\n    name: 横須賀市\n    collections: [laws]\n"
        "pricing:\n  currency: JPY\n  models:\n"
        "    claude-test: {input_per_mtok: 450, output_per_mtok: 2250}\n" + llm,
        "utf-8",
    )
    return manifest


def invoke(args: list[str], manifest: Path, **env: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--manifest", str(manifest)], env=env or None)


def test_ask_json_extractive_then_audit_verify(tmp_path: Path, corpus_data_dir: Path) -> None:
    manifest = write_manifest(tmp_path, corpus_data_dir)

    result = invoke(["ask", CAFE, "--json", "--tenant", "yokosuka"], manifest)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"answer", "abstained", "citations", "warnings", "inquiry_draft", "usage"} <= set(data)
    assert data["abstained"] is False and data["extractive"] is True
    assert data["answer"].startswith("AIによる要約ではなく、検索結果です。")
    assert data["warnings"] == [] and data["inquiry_draft"] is None
    first = data["citations"][0]
    assert set(first) == {"n", "doc_id", "article", "title", "url", "quote", "verified"}
    assert (first["n"], first["doc_id"], first["article"]) == (1, "322AC0000000067", "238_4")
    assert first["title"] == "地方自治法 第二百三十八条の四"
    assert first["url"] == "https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4"
    assert first["verified"] is True and first["quote"] in data["answer"]
    assert data["usage"]["provider"] == "none" and data["usage"]["input_tokens"] == 0
    assert (tmp_path / "state" / "state.db").is_file()
    assert not (corpus_data_dir / "state.db").exists()

    unanswerable = invoke(["ask", UNANSWERABLE, "--json"], manifest)
    assert unanswerable.exit_code == 0, unanswerable.output
    abstained = json.loads(unanswerable.stdout)
    assert abstained["abstained"] is True and abstained["citations"] == []
    assert abstained["answer"].startswith("根拠となる資料が見つかりませんでした")
    assert abstained["inquiry_draft"].startswith(f"件名：「{UNANSWERABLE}」について（照会）")

    verified = invoke(["audit", "verify"], manifest)
    assert verified.exit_code == 0, verified.output
    assert "audit log OK: 2 records, no tampering found" in verified.stdout


def test_ask_plain_text_prints_citations_and_the_inquiry_draft(tmp_path: Path, corpus_data_dir: Path) -> None:
    manifest = write_manifest(tmp_path, corpus_data_dir)
    answered = invoke(["ask", CAFE], manifest)
    assert answered.exit_code == 0, answered.output
    lines = answered.stdout.splitlines()  # printed whole even when piped (no wrapping at 80 columns)
    url = "https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4"
    assert f"[1] ✓ 地方自治法 第二百三十八条の四  {url}" in lines
    assert max(len(line) for line in lines) > 80
    abstained = invoke(["ask", UNANSWERABLE], manifest)
    assert abstained.exit_code == 0, abstained.output
    assert "--- 照会文案 / inquiry draft ---" in abstained.stdout


async def test_ask_with_an_llm_then_usage_report_csv(tmp_path: Path, corpus_data_dir: Path) -> None:
    async with RewritingServer(api_key="test-key") as server:
        server.script(FAITHFUL, usage={"input_tokens": 2000, "output_tokens": 100})
        manifest = write_manifest(tmp_path, corpus_data_dir, llm=llm_section(server))
        # The CLI runs its own event loop: call it from a worker thread while the server serves here.
        args = ["ask", CAFE, "--json", "--tenant", "yokosuka", "--thread", "t1"]
        result = await asyncio.to_thread(invoke, args, manifest, **{KEY_ENV: "test-key"})
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["extractive"] is False and data["warnings"] == []
        assert [(c["n"], c["verified"]) for c in data["citations"]] == [(1, True)]
        assert data["answer"].startswith(FAITHFUL)
        # A well-covered question is not rewritten: one request, the answer, not streamed (CLI output).
        [answer] = server.requests
        assert not _is_rewrite(answer.body) and not answer.body.get("stream")
        usage = data["usage"]
        assert (usage["provider"], usage["model"]) == ("anthropic", "claude-test")
        assert usage["input_tokens"] == 2000 and usage["output_tokens"] == 100

    month = current_month()
    report = invoke(["usage", "report", "--month", month, "--csv"], manifest)
    assert report.exit_code == 0, report.output
    rows = list(csv.reader(io.StringIO(report.stdout)))
    assert rows[0][:3] == ["テナント (tenant)", "プロバイダ (provider)", "モデル (model)"]
    # 2000 input tokens x 450 JPY/Mtok + 100 output tokens x 2250 JPY/Mtok = 0.9 + 0.225 = 1.125 JPY
    assert rows[1] == ["yokosuka", "anthropic", "claude-test", "1", "2000", "100", "0", "0", "1", "0"]
    assert rows[2][0] == "合計 (total)" and rows[2][3:6] == ["1", "2000", "100"]

    table = invoke(["usage", "report", "--month", month], manifest)
    assert table.exit_code == 0 and "yokosuka" in table.stdout
    assert invoke(["audit", "verify"], manifest).exit_code == 0


async def test_ask_warnings_that_look_like_markup_are_printed_verbatim(
    tmp_path: Path, corpus_data_dir: Path
) -> None:
    async with RewritingServer(api_key="test-key") as server:
        server.script(f"{FAITHFUL}\nまた「[/b]空きスペースは自由に貸せる」とされています[2]。")
        manifest = write_manifest(tmp_path, corpus_data_dir, llm=llm_section(server))
        result = await asyncio.to_thread(invoke, ["ask", CAFE], manifest, **{KEY_ENV: "test-key"})
    assert result.exit_code == 0, result.output
    assert "[1] ✓ 地方自治法 第二百三十八条の四" in result.stdout
    assert "[2] ？ 地方自治法施行令 第百六十九条の三" in result.stdout  # the citation did not hold
    assert "注意: 引用「[/b]空きスペースは自由に貸せる」は出典[2]" in result.stderr


def test_usage_report_rejects_a_malformed_month(tmp_path: Path, corpus_data_dir: Path) -> None:
    manifest = write_manifest(tmp_path, corpus_data_dir)
    result = invoke(["usage", "report", "--month", "2025-13", "--csv"], manifest)
    assert result.exit_code == 1
    assert "2025-13" in result.output
