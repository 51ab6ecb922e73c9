"""Plain progress lines for logs: periodic, one on completion, none repeated."""

from __future__ import annotations

import io
from pathlib import Path

from click.testing import CliRunner

from kairan.cli import cli
from kairan.progress import LineProgress
from tests.conftest import CORPUS


def test_lines_come_every_interval_and_once_at_completion() -> None:
    now = [0.0]
    out = io.StringIO()
    with LineProgress(out, interval=5.0, clock=lambda: now[0]) as progress:
        task = progress.add_task("解析 parse", total=10)
        for _ in range(10):
            now[0] += 1.5
            progress.advance(task)
        progress.update(task, completed=10)  # a repeated final update prints nothing more
    assert out.getvalue().splitlines() == [
        "解析 parse 4/10 (40%) 6s",
        "解析 parse 8/10 (80%) 12s",
        "解析 parse 10/10 (100%) 15s",
    ]


def test_an_unfinished_task_is_reported_when_the_block_ends() -> None:
    out = io.StringIO()
    with LineProgress(out, clock=lambda: 0.0) as progress:
        progress.update(progress.add_task("取得 fetch"), completed=3)
    assert out.getvalue() == "取得 fetch 3 0s\n"


def test_ingest_into_a_log_prints_plain_progress_lines(tmp_path: Path) -> None:
    law = CORPUS / "xml" / "405AC0000000088_20240401_504AC0100000052.xml"
    result = CliRunner().invoke(cli, ["ingest", "--data-dir", str(tmp_path), "--workers", "1", str(law)])
    assert result.exit_code == 0, result.output
    assert "解析 parse 1/1 (100%)" in result.output
    assert "索引 index 1/1 (100%)" in result.output
