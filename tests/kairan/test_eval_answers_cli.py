"""``kairan eval answers`` through click's CliRunner: the whole answer engine over a question set, with
the real anthropic SDK against the local fake, and without an LLM; nothing is recorded."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.fakes.llm_servers import FakeAnthropicServer
from tests.kairan.test_ask_cli import (
    CAFE,
    FAITHFUL,
    KEY_ENV,
    UNANSWERABLE,
    invoke,
    llm_section,
    write_manifest,
)


def write_dataset(tmp_path: Path) -> Path:
    dataset = tmp_path / "questions.jsonl"
    lines = [
        {"id": "a1", "question": CAFE, "gold": ["322AC0000000067:238_4"], "kind": "semantic"},
        {"id": "u1", "question": UNANSWERABLE, "gold": [], "kind": "unanswerable"},
    ]
    dataset.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), "utf-8")
    return dataset


async def test_eval_answers_with_an_llm_scores_what_staff_would_see_and_records_nothing(
    tmp_path: Path, corpus_data_dir: Path
) -> None:
    async with FakeAnthropicServer(api_key="test-key") as server:
        server.script(FAITHFUL)
        manifest = write_manifest(tmp_path, corpus_data_dir, llm=llm_section(server))
        args = ["eval", "answers", str(write_dataset(tmp_path)), "--json", "--tenant", "yokosuka"]
        result = await asyncio.to_thread(invoke, args, manifest, **{KEY_ENV: "test-key"})

        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["llm"] == "anthropic claude-test"
        assert summary["by_kind"]["semantic"] == {
            "count": 1, "answered": 1, "answered_rate": 1.0, "near_miss_answered": 0,
            "gold_first": 1, "gold_cited": 1, "gold_cited_rate": 1.0, "near_miss_gold_cited": 0,
        }
        assert summary["by_kind"]["unanswerable"]["answered"] == 0
        assert summary["misses"] == [] and summary["llm_failures"] == 0
        assert server.requests  # the answer was the LLM's
    assert not (tmp_path / "state").exists()  # no audit entries, no usage, no thread memory


def test_eval_answers_without_an_llm_prints_the_table_and_its_misses(
    tmp_path: Path, corpus_data_dir: Path
) -> None:
    manifest = write_manifest(tmp_path, corpus_data_dir)
    dataset = write_dataset(tmp_path)
    wrong = {"id": "a2", "question": CAFE, "gold": ["322AC0000000067:1"], "kind": "semantic"}
    with dataset.open("a", encoding="utf-8") as f:
        f.write(json.dumps(wrong, ensure_ascii=False) + "\n")

    result = invoke(["eval", "answers", str(dataset), "--concurrency", "1"], manifest)

    assert result.exit_code == 0, result.output
    assert "answers (LLM: none (extractive))" in result.stdout
    misses = result.stdout.split("misses", 1)[1]
    assert "a2" in misses and "a1" not in misses


def test_eval_answers_names_the_line_of_a_broken_dataset(tmp_path: Path, corpus_data_dir: Path) -> None:
    dataset = tmp_path / "broken.jsonl"
    dataset.write_text('{"id": "a1", "question": "…", "kind": "semantic"}\n{"id": "a2"\n', "utf-8")
    result = invoke(["eval", "answers", str(dataset)], write_manifest(tmp_path, corpus_data_dir))
    assert result.exit_code != 0
    assert f"{dataset}:2: not a dataset line" in result.output
