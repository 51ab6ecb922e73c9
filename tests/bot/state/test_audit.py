from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from bot.models import Answer, Citation, ConversationRef, Source, Usage
from bot.state.audit import (
    GENESIS,
    AuditEntry,
    AuditLog,
    CitedSource,
    audit_salt,
    canonical_json,
    entry_from_answer,
    hash_user,
    record_hash,
)
from bot.state.commands import audit_verify
from bot.state.db import Database, open_database
from tests.bot.state.conftest import Tamper

T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)


def entry(i: int, log: AuditLog) -> AuditEntry:
    return AuditEntry(
        tenant="yokosuka",
        channel="C05KAIRAN01",
        user_hash=log.hash_user(f"U{i:03d}"),
        question=f"質問{i}: 行政財産の貸付けはできますか",
        answer=f"回答{i}: 地方自治法第238条の4第2項により一定の場合に貸し付けることができます[1]。",
        sources=(CitedSource(1, "322AC0000000067", "238_4", "https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4",
                             "ab" * 32, True),),
        model="claude-sonnet-4-5",
        provider="anthropic",
        input_tokens=1000 + i,
        output_tokens=200 + i,
    )


def five(db: Database) -> tuple[AuditLog, list[str]]:
    log = AuditLog(db, salt="test-salt")
    ids = [log.append(entry(i, log), time=T0.replace(minute=i)).id for i in range(1, 6)]
    return log, ids


def kinds(log: AuditLog) -> list[tuple[int, str | None, str]]:
    return [(p.seq, p.id, p.kind) for p in log.verify().problems]


def test_five_appends_chain_and_verify(db: Database) -> None:
    log, ids = five(db)
    records = list(log.records())
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert [r.id for r in records] == ids
    assert records[0].prev_hash == GENESIS
    assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]
    assert records[2].time == "2025-05-01T09:03:00.000000Z"
    # The hash is sha256 over the canonical JSON of every field but itself.
    r = records[0]
    fields = {
        "seq": 1, "id": r.id, "time": r.time, "tenant": "yokosuka", "channel": "C05KAIRAN01",
        "user_hash": r.user_hash, "question": r.question, "answer": r.answer,
        "sources": [{"n": 1, "doc_id": "322AC0000000067", "article": "238_4",
                     "url": "https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4",
                     "sha256": "ab" * 32, "verified": True}],
        "model": "claude-sonnet-4-5", "provider": "anthropic", "input_tokens": 1001, "output_tokens": 201,
        "abstained": False, "prev_hash": GENESIS,
    }
    assert r.hash == hashlib.sha256(canonical_json(fields).encode()).hexdigest()
    report = log.verify()
    assert report.ok and report.records == 5 and report.problems == []
    assert log.get(ids[3]) == records[3]
    assert log.get("no-such-id") is None


def test_empty_log_verifies(db: Database) -> None:
    report = AuditLog(db, salt="s").verify()
    assert report.ok and report.records == 0


def test_triggers_refuse_update_and_delete(db: Database) -> None:
    five(db)
    for sql in ("UPDATE audit_log SET answer = 'x' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 1"):
        with pytest.raises(DatabaseError, match="append-only"), db.write() as conn:
            conn.execute(text(sql))
    assert AuditLog(db, salt="s").verify().ok


def test_edited_answer_is_named(db: Database, tamper: Tamper) -> None:
    log, ids = five(db)
    tamper("UPDATE audit_log SET answer = '回答3: 貸し付けることはできません。' WHERE seq = 3;")
    report = log.verify()
    assert not report.ok
    assert kinds(log) == [(3, ids[2], "edited")]
    assert "no longer match its hash" in report.problems[0].detail


def test_edit_with_recomputed_hash_is_named(db: Database, tamper: Tamper) -> None:
    log, ids = five(db)
    with db.read() as conn:
        row = dict(conn.execute(text("SELECT * FROM audit_log WHERE seq = 3")).mappings().one())
    row["answer"] = "改ざんされた回答"
    forged = record_hash(row)
    tamper(f"UPDATE audit_log SET answer = '改ざんされた回答', hash = '{forged}' WHERE seq = 3;")
    assert kinds(log) == [(3, ids[2], "edited")]
    assert "recomputed hash" in log.verify().problems[0].detail


def test_deleted_record_is_named(db: Database, tamper: Tamper) -> None:
    log, _ = five(db)
    tamper("DELETE FROM audit_log WHERE seq = 2;")
    report = log.verify()
    assert kinds(log) == [(2, None, "deleted")]
    assert report.problems[0].detail == "seq 2 missing: the chain jumps from seq 1 to 3"
    assert report.records == 4


def test_deleted_last_record_is_named_from_the_chain_head(db: Database, tamper: Tamper) -> None:
    log, _ = five(db)
    tamper("DELETE FROM audit_log WHERE seq = 5;")
    assert kinds(log) == [(5, None, "deleted")]


def test_several_deleted_records_are_one_problem(db: Database, tamper: Tamper) -> None:
    log, _ = five(db)
    tamper("DELETE FROM audit_log WHERE seq IN (2, 3, 4);")
    problems = log.verify().problems
    assert [(p.seq, p.kind) for p in problems] == [(2, "deleted")]
    assert problems[0].detail.startswith("seq 2-4 (3 records) missing")


def test_swapped_records_are_named_as_reordered(db: Database, tamper: Tamper) -> None:
    log, ids = five(db)
    tamper("UPDATE audit_log SET seq = -2 WHERE seq = 2;"
                     "UPDATE audit_log SET seq = 2 WHERE seq = 4;"
                     "UPDATE audit_log SET seq = 4 WHERE seq = -2;")
    report = log.verify()
    assert kinds(log) == [(2, ids[3], "reordered"), (4, ids[1], "reordered")]
    assert report.problems[0].detail == f"record {ids[3]} was appended as seq 4 but now sits at seq 2"


def test_adjacent_swap_is_named_as_reordered(db: Database, tamper: Tamper) -> None:
    log, ids = five(db)
    tamper("UPDATE audit_log SET seq = -3 WHERE seq = 3;"
                     "UPDATE audit_log SET seq = 3 WHERE seq = 4;"
                     "UPDATE audit_log SET seq = 4 WHERE seq = -3;")
    assert kinds(log) == [(3, ids[3], "reordered"), (4, ids[2], "reordered")]


def test_forged_record_appended_outside_the_log_is_named_as_inserted(db: Database, tamper: Tamper) -> None:
    log, _ = five(db)
    with db.read() as conn:
        row = dict(conn.execute(text("SELECT * FROM audit_log WHERE seq = 5")).mappings().one())
    row.update(seq=6, id="forged-0000", prev_hash=row["hash"], answer="偽の回答")
    row["hash"] = record_hash(row)
    columns = ", ".join(row)
    def literal(v: object) -> str:
        return f"'{v}'" if isinstance(v, str) else str(v).upper() if isinstance(v, bool) else str(int(v))  # type: ignore[call-overload]

    values = ", ".join(literal(v) for v in row.values())
    tamper(f"INSERT INTO audit_log ({columns}) VALUES ({values});")
    assert kinds(log) == [(6, "forged-0000", "inserted")]


def test_appends_continue_the_chain_after_reopening(state_url: str) -> None:
    url = state_url
    with open_database(url) as first:
        five(first)
    with open_database(url) as second:
        log = AuditLog(second, salt="test-salt")
        record = log.append(entry(6, log))
        assert record.seq == 6
        assert log.verify().ok and log.verify().records == 6


def test_concurrent_appends_do_not_fork_the_chain(state_url: str) -> None:
    url = state_url
    open_database(url).close()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with open_database(url) as own:  # one engine per thread, like separate processes
                log = AuditLog(own, salt="s")
                for i in range(10):
                    log.append(entry(n * 100 + i, log))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_database(url) as db:
        log = AuditLog(db, salt="s")
        records = list(log.records())
        assert [r.seq for r in records] == list(range(1, 41))
        assert len({r.prev_hash for r in records}) == 40  # no two records share a predecessor
        assert log.verify().ok


def test_first_appends_from_many_threads_share_one_log(state_url: str) -> None:
    """One AuditLog used by many threads on a fresh database (as the engine does): none may fail."""
    url = state_url
    with open_database(url) as db:
        log = AuditLog(db, salt="s")
        errors: list[BaseException] = []
        start = threading.Barrier(8)

        def worker(n: int) -> None:
            start.wait()
            try:
                log.append(entry(n, log))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert [r.seq for r in log.records()] == list(range(1, 9))
        assert log.verify().ok


def test_user_hash_uses_the_install_salt(state_url: str) -> None:
    url = state_url
    with open_database(url) as db:
        generated = audit_salt(db, environ={})
        assert len(generated) == 64
        assert audit_salt(db, environ={}) == generated  # kept in the meta table
        assert audit_salt(db, environ={"KAIRAN_AUDIT_SALT": "from-env"}) == "from-env"
    with open_database(url) as db:
        assert audit_salt(db, environ={}) == generated  # survives a restart
    assert hash_user("from-env", "U123") == hashlib.sha256(b"from-env\x00U123").hexdigest()
    assert hash_user("a", "U123") != hash_user("b", "U123")


def test_audit_log_reads_salt_from_environment(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIRAN_AUDIT_SALT", "env-salt")
    assert AuditLog(db).hash_user("U1") == hash_user("env-salt", "U1")


def test_entry_from_answer_carries_source_digests() -> None:
    ref = ConversationRef(platform="slack", tenant="yokosuka", channel="C1", thread="1700.1")
    sources = [
        Source(n=1, doc_id="322AC0000000067", article="238_4", title="地方自治法", label="第二百三十八条の四",
               caption="", url="https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4", text="…",
               sha256="cd" * 32),
        Source(n=2, doc_id="325AC0000000261", article="38", title="地方公務員法", label="第三十八条",
               caption="", url="u2", text="…", sha256="ef" * 32),
    ]
    answer = Answer(
        text="回答[2]", abstained=False,
        citations=(
            Citation(2, "325AC0000000261", "38", "地方公務員法 第三十八条", "u2", "「営利企業」", True),
        ),
        usage=Usage(provider="anthropic", model="claude-sonnet-4-5", input_tokens=3000, output_tokens=400),
    )
    e = entry_from_answer(ref, user_hash="h", question="副業は？", answer=answer, sources=sources)
    assert e.sources == (CitedSource(2, "325AC0000000261", "38", "u2", "ef" * 32, True),)
    assert (e.tenant, e.channel, e.model, e.provider, e.input_tokens, e.output_tokens) == (
        "yokosuka", "C1", "claude-sonnet-4-5", "anthropic", 3000, 400)
    assert json.loads(canonical_json([{"b": 1, "a": "日本"}])) == [{"a": "日本", "b": 1}]


def test_audit_verify_command(db: Database, tamper: Tamper) -> None:
    _, ids = five(db)
    code, out = audit_verify(db)
    assert code == 0
    assert out.splitlines()[0] == "監査ログは正常です（5 件、改ざんは見つかりませんでした）"
    tamper("UPDATE audit_log SET answer = 'x' WHERE seq = 3; DELETE FROM audit_log WHERE seq = 5;")
    code, out = audit_verify(db)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "監査ログに 2 件の異常があります（全 4 件、評価の記録 0 件）"
    assert lines[2].startswith(f"  seq 3  改ざん（内容の変更） edited  id={ids[2]}")
    assert lines[3].startswith("  seq 5  削除 deleted  id=-")
