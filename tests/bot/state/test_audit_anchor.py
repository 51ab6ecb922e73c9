"""The keyed audit chain and its anchors outside the database (issue 16, item 7).

Each attack rewrites the database consistently, as someone with file or superuser access but
without the key could: before the chain was keyed and anchored, every one of them passed verify.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.state.anchor import Anchor, AnchorFile, anchors_from_log
from bot.state.audit import AuditEntry, AuditLog, canonical_json
from bot.state.chain import ChainKey
from bot.state.commands import audit_verify
from bot.state.db import Database
from bot.state.feedback import FeedbackStore
from kairan.logging import configure_logging
from tests.bot.state.conftest import Tamper

KEY = ChainKey.of("a-long-random-audit-key-from-the-environment-0123456789")
T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)


def entry(i: int) -> AuditEntry:
    return AuditEntry(tenant="yokosuka", channel="C05KAIRAN01", user_hash=f"{i:064x}",
                      question=f"質問{i}", answer=f"回答{i}: 地方自治法第238条の4[1]")


@pytest.fixture
def anchor_file(tmp_path: Path) -> AnchorFile:
    return AnchorFile(tmp_path / "other-volume" / "audit-anchor.json")


def five(
    db: Database, anchor_file: AnchorFile | None = None, key: ChainKey = KEY
) -> tuple[AuditLog, list[str]]:
    log = AuditLog(db, salt="s", key=key, anchor_file=anchor_file)
    ids = [log.append(entry(i), time=T0.replace(minute=i)).id for i in range(1, 6)]
    return log, ids


def rows(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [dict(r) for r in conn.execute(text("SELECT * FROM audit_log ORDER BY seq")).mappings()]


def unkeyed_hash(row: dict[str, Any]) -> str:
    """What an attacker without the key computes: the plain sha256 chain of the unkeyed format."""
    fields = {k: v for k, v in row.items() if k != "hash"}
    fields["sources"] = json.loads(fields["sources"])
    fields["abstained"] = bool(fields["abstained"])
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


def sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value).upper() if isinstance(value, bool) else str(int(value))


def kinds(report: Any) -> list[tuple[int, str]]:
    return [(p.seq, p.kind) for p in report.problems]


def test_a_keyed_chain_with_its_anchor_verifies(db: Database, anchor_file: AnchorFile) -> None:
    log, _ = five(db, anchor_file)
    anchors = anchor_file.read()
    assert [(a.chain, a.seq) for a in anchors] == [("audit", 5)]
    assert anchors[0].hash == rows(db)[-1]["hash"]
    report = log.verify(anchors)
    assert report.ok and report.records == 5 and report.unkeyed == 0


def test_the_hash_is_an_hmac_under_the_key(db: Database) -> None:
    five(db)
    row = rows(db)[0]
    assert row["hash"] != unkeyed_hash(row)  # sha256 alone no longer reproduces it
    assert not AuditLog(db, salt="s", key=ChainKey.of("another-key-of-enough-length-0000000")).verify().ok


def test_truncation_with_the_head_moved_back_is_detected(
    db: Database, anchor_file: AnchorFile, tamper: Tamper
) -> None:
    log, _ = five(db, anchor_file)
    third = rows(db)[2]
    tamper("DELETE FROM audit_log WHERE seq > 3;"
           f"UPDATE audit_head SET seq = 3, hash = '{third['hash']}' WHERE id = 1;")
    assert log.verify().ok  # the database alone is consistent: only the anchor can tell
    report = log.verify(anchor_file.read())
    assert kinds(report) == [(4, "deleted")]
    assert "anchor" in report.problems[0].detail and "seq 5" in report.problems[0].detail


def test_a_rehashed_last_record_is_detected(db: Database, anchor_file: AnchorFile, tamper: Tamper) -> None:
    log, _ = five(db, anchor_file)
    last = rows(db)[-1]
    last["answer"] = "回答5: 貸し付けることはできません。"
    forged = unkeyed_hash(last)
    tamper(f"UPDATE audit_log SET answer = {sql_literal(last['answer'])}, hash = '{forged}' WHERE seq = 5;"
           f"UPDATE audit_head SET hash = '{forged}' WHERE id = 1;")
    assert (5, "edited") in kinds(log.verify())  # without the key the new hash cannot be an HMAC
    assert (5, "edited") in kinds(log.verify(anchor_file.read()))


def test_a_rewritten_chain_is_detected(db: Database, anchor_file: AnchorFile, tamper: Tamper) -> None:
    log, _ = five(db, anchor_file)
    script, prev = [], "0" * 64
    for row in rows(db):
        row["answer"] = row["answer"].replace("できます", "できません")
        row["prev_hash"] = prev
        row["hash"] = prev = unkeyed_hash(row)
        script.append(f"UPDATE audit_log SET answer = {sql_literal(row['answer'])}, "
                      f"prev_hash = '{row['prev_hash']}', hash = '{row['hash']}' WHERE seq = {row['seq']};")
    script.append(f"UPDATE audit_head SET hash = '{prev}' WHERE id = 1;")
    tamper("".join(script))
    without_anchor = log.verify()
    assert not without_anchor.ok  # the key is set, yet no record carries it
    assert {kind for _, kind in kinds(without_anchor)} == {"unkeyed"}
    assert (5, "edited") in kinds(log.verify(anchor_file.read()))


def test_deleting_every_record_is_detected(db: Database, anchor_file: AnchorFile, tamper: Tamper) -> None:
    log, _ = five(db, anchor_file)
    tamper("DELETE FROM audit_log; DELETE FROM audit_head;")
    report = log.verify(anchor_file.read())
    assert kinds(report) == [(1, "deleted")]
    assert report.records == 0


def test_a_forged_or_rolled_back_anchor_is_reported(db: Database, anchor_file: AnchorFile) -> None:
    log, _ = five(db, anchor_file)
    [good] = anchor_file.read()
    forged = Anchor(chain="audit", seq=9, hash="f" * 64, time=good.time, keyed=True, sig="0" * 64)
    report = log.verify([forged])
    assert kinds(report) == [(9, "anchor")]
    assert log.verify([good]).ok


def test_anchors_are_also_written_to_the_json_log(db: Database, tamper: Tamper) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(level="INFO", stream=stream, environ={})
    try:
        log, _ = five(db)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    lines = stream.getvalue().splitlines()
    anchors = anchors_from_log(lines)
    assert [a.seq for a in anchors] == [1, 2, 3, 4, 5]
    assert all(a.keyed and a.chain == "audit" for a in anchors)
    assert "質問" not in stream.getvalue()  # the head line carries no question
    tamper("DELETE FROM audit_log WHERE seq = 5;"
           f"UPDATE audit_head SET seq = 4, hash = '{rows(db)[3]['hash']}' WHERE id = 1;")
    assert kinds(log.verify(anchors)) == [(5, "deleted")]


def test_an_unkeyed_prefix_before_the_key_was_set_is_accepted(db: Database, anchor_file: AnchorFile) -> None:
    unkeyed = AuditLog(db, salt="s", key=ChainKey.of(None))
    unkeyed.append(entry(1))
    unkeyed.append(entry(2))
    keyed = AuditLog(db, salt="s", key=KEY, anchor_file=anchor_file)
    keyed.append(entry(3))
    report = keyed.verify(anchor_file.read())
    assert report.ok and report.unkeyed == 2


def test_an_unkeyed_record_after_a_keyed_one_is_a_problem(db: Database) -> None:
    log, _ = five(db)
    AuditLog(db, salt="s", key=ChainKey.of(None)).append(entry(6))  # written without the key
    report = log.verify()
    assert kinds(report) == [(6, "edited")]
    assert "rewritten without the key" in report.problems[0].detail


# --- feedback ----------------------------------------------------------------------------------


@pytest.fixture
def voted(db: Database, anchor_file: AnchorFile) -> Iterator[tuple[FeedbackStore, list[str]]]:
    _, ids = five(db, anchor_file)
    store = FeedbackStore(db, key=KEY, anchor_file=anchor_file)
    store.record(ids[0], "h1", "helpful", time=T0)
    store.record(ids[1], "h1", "not_helpful", "条文が古い", time=T0)
    store.record(ids[0], "h1", "not_helpful", time=T0)  # a changed vote: a new chained record
    yield store, ids


def test_feedback_is_chained_and_anchored(
    voted: tuple[FeedbackStore, list[str]], anchor_file: AnchorFile
) -> None:
    store, _ = voted
    anchors = {a.chain: a for a in anchor_file.read()}
    assert anchors["feedback"].seq == 3
    report = store.verify(anchor_file.read())
    assert report.ok and report.records == 3


@pytest.mark.parametrize(("script", "expected"), [
    ("UPDATE feedback_log SET value = 'helpful' WHERE seq = 2;", [(2, "edited")]),
    ("UPDATE feedback SET value = 'helpful' WHERE comment = '条文が古い';", [(2, "edited")]),
    ("DELETE FROM feedback WHERE comment = '条文が古い';", [(2, "deleted")]),
    ("DELETE FROM feedback_log WHERE seq = 3; UPDATE audit_head SET seq = 2, "
     "hash = (SELECT hash FROM feedback_log WHERE seq = 2) WHERE id = 2;",
     [(1, "edited"), (3, "deleted")]),  # the anchor shows seq 3 gone; the current vote is no longer seq 1's
])
def test_tampered_feedback_is_detected(
    voted: tuple[FeedbackStore, list[str]], anchor_file: AnchorFile, tamper: Tamper,
    script: str, expected: list[tuple[int, str]],
) -> None:
    store, _ = voted
    tamper(script)
    assert kinds(store.verify(anchor_file.read())) == expected


def test_audit_verify_command_checks_both_chains_against_the_anchors(
    db: Database, anchor_file: AnchorFile, tamper: Tamper, voted: tuple[FeedbackStore, list[str]]
) -> None:
    code, out = audit_verify(db, key=KEY, anchors=anchor_file.read())
    assert code == 0, out
    assert out.splitlines()[0] == "監査ログは正常です（5 件、改ざんは見つかりませんでした）"
    assert "評価の記録 3 件" in out
    tamper("DELETE FROM audit_log WHERE seq = 5;"
           f"UPDATE audit_head SET seq = 4, hash = '{rows(db)[3]['hash']}' WHERE id = 1;")
    code, out = audit_verify(db, key=KEY, anchors=anchor_file.read())
    assert code == 1
    assert "seq 5  削除 deleted" in out
