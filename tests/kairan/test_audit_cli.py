"""``kairan audit verify`` with the chain key and the anchor file the manifest names (issue 16, item 7)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.kairan.test_ask_cli import CAFE, invoke, write_manifest

KEY = "kairan-test-audit-key-0123456789abcdef"


def test_verify_detects_records_cut_off_the_end_with_the_head_moved_back(
    tmp_path: Path, corpus_data_dir: Path
) -> None:
    anchor = tmp_path / "other-volume" / "anchor.json"
    manifest = write_manifest(tmp_path, corpus_data_dir)
    manifest.write_text(
        manifest.read_text("utf-8").replace("state:\n", f"state:\n  audit_anchor_file: {anchor}\n"), "utf-8"
    )
    for _ in range(3):
        asked = invoke(["ask", CAFE, "--tenant", "yokosuka"], manifest, KAIRAN_AUDIT_KEY=KEY)
        assert asked.exit_code == 0, asked.output
    assert anchor.is_file()
    ok = invoke(["audit", "verify"], manifest, KAIRAN_AUDIT_KEY=KEY)
    assert ok.exit_code == 0, ok.output
    assert "audit log OK: 3 records" in ok.stdout

    unkeyed = invoke(["audit", "verify"], manifest, KAIRAN_AUDIT_KEY="")
    assert unkeyed.exit_code == 2 and "KAIRAN_AUDIT_KEY" in unkeyed.output
    wrong = invoke(["audit", "verify"], manifest, KAIRAN_AUDIT_KEY="another-key-of-the-same-length-0000")
    assert wrong.exit_code == 1

    con = sqlite3.connect(tmp_path / "state" / "state.db")
    con.executescript(
        "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 3;"
        "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_log WHERE seq = 2) WHERE id = 1;"
    )
    con.close()
    truncated = invoke(["audit", "verify"], manifest, KAIRAN_AUDIT_KEY=KEY)
    assert truncated.exit_code == 1, truncated.output
    assert "seq 3  削除 deleted" in truncated.output

    anchor.rename(tmp_path / "copy.json")  # the manifest's file is gone; an explicit copy still tells
    assert invoke(["audit", "verify"], manifest, KAIRAN_AUDIT_KEY=KEY).exit_code == 0
    explicit = invoke(["audit", "verify", "--anchor", str(tmp_path / "copy.json")], manifest,
                      KAIRAN_AUDIT_KEY=KEY)
    assert explicit.exit_code == 1


def test_a_key_too_short_is_a_clear_error_not_a_traceback(tmp_path: Path, corpus_data_dir: Path) -> None:
    manifest = write_manifest(tmp_path, corpus_data_dir)
    result = invoke(["audit", "verify"], manifest, KAIRAN_AUDIT_KEY="short")
    assert result.exit_code == 1
    assert "KAIRAN_AUDIT_KEY must be at least 16 characters long" in result.output
    assert "Traceback" not in result.output
