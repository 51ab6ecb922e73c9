"""CLI bodies for ``kairan audit verify`` and ``kairan usage report`` (mounted on click elsewhere)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import Path

from bot.state.anchor import Anchor, AnchorFile, anchors_from_log
from bot.state.audit import AuditLog
from bot.state.chain import ChainKey, VerifyReport
from bot.state.db import Database
from bot.state.feedback import FeedbackStore
from bot.state.usage import report_table, usage_csv, usage_report

KIND_LABELS = {
    "edited": "改ざん（内容の変更） edited",
    "deleted": "削除 deleted",
    "reordered": "順序の入れ替え reordered",
    "inserted": "不正な追加 inserted",
    "unkeyed": "鍵のない記録 unkeyed",
    "anchor": "不正なアンカー anchor",
}
NEEDS_KEY = ("監査ログは鍵つきで記録されています。検証するには記録時と同じ鍵を環境変数"
             "（既定 KAIRAN_AUDIT_KEY）に設定してください\n / the audit log is keyed: set the key it was "
             "written with (KAIRAN_AUDIT_KEY by default) to verify it\n")


def collect_anchors(anchor_files: Sequence[Path], log_files: Sequence[Path]) -> list[Anchor]:
    """Anchors from anchor files (a missing one holds none yet) and from JSON log files."""
    anchors = [a for path in anchor_files for a in AnchorFile(path).read()]
    for path in log_files:
        with open(path, encoding="utf-8", errors="replace") as lines:
            anchors += anchors_from_log(lines)
    return anchors


def audit_verify(
    db: Database, *, key: ChainKey | None = None, anchors: Sequence[Anchor] = ()
) -> tuple[int, str]:
    """(exit code, text): 0 when both chains are intact, 1 when any record was tampered with,
    2 when the chains are keyed and no key was given."""
    key = ChainKey.from_env() if key is None else key
    report = AuditLog(db, key=key).verify(anchors)
    votes = FeedbackStore(db, key=key).verify(anchors)
    if report.needs_key or votes.needs_key:
        return 2, NEEDS_KEY
    notes = _notes(report, votes, key, anchors)
    if report.ok and votes.ok:
        return 0, (f"監査ログは正常です（{report.records} 件、改ざんは見つかりませんでした）\n"
                   f"audit log OK: {report.records} records, no tampering found\n"
                   f"評価の記録 {votes.records} 件も正常です / feedback log OK: {votes.records} records\n"
                   + notes)
    problems = [("監査ログ", p) for p in report.problems] + [("評価の記録", p) for p in votes.problems]
    lines = [
        f"監査ログに {len(problems)} 件の異常があります（全 {report.records} 件、"
        f"評価の記録 {votes.records} 件）",
        f"audit log: {len(problems)} problem(s) in {report.records} records "
        f"and {votes.records} feedback records",
    ]
    for where, p in problems:
        prefix = "" if where == "監査ログ" else "評価の記録 feedback "
        lines.append(f"  {prefix}seq {p.seq}  {KIND_LABELS[p.kind]}  id={p.id or '-'}  {p.detail}")
    return 1, "\n".join(lines) + "\n" + notes


def _notes(report: VerifyReport, votes: VerifyReport, key: ChainKey, anchors: Sequence[Anchor]) -> str:
    """What the result does not cover: no key, no anchors, records from before the key."""
    notes = []
    if not key.keyed:
        notes.append("注: 鍵（KAIRAN_AUDIT_KEY）が設定されていないため、記録を丸ごと書き換えられても"
                     "検出できません / note: no audit key is set, so a rewritten chain cannot be detected")
    if not anchors:
        notes.append("注: アンカーがないため、末尾の記録の削除・全件の削除は検出できません"
                     "（--anchor / --log） / note: no anchors given, so records cut off the end or all "
                     "deleted cannot be detected")
    if report.unkeyed or votes.unkeyed:
        notes.append(f"注: 鍵の設定前の記録 {report.unkeyed + votes.unkeyed} 件は鍵なしで検証しました"
                     f" / note: {report.unkeyed + votes.unkeyed} records from before the key was set were "
                     "checked without it")
    return "".join(f"{n}\n" for n in notes)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _aligned(lines: list[list[str]], numeric_from: int = 3) -> str:
    widths = [max(_width(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = []
    for line in lines:
        cells = []
        for i, cell in enumerate(line):
            pad = " " * (widths[i] - _width(cell))
            cells.append(pad + cell if i >= numeric_from and line is not lines[0] else cell + pad)
        out.append("  ".join(cells).rstrip())
    return "\n".join(out) + "\n"


def usage_report_text(db: Database, month: str, csv: bool = False) -> str:
    """The month's usage per tenant, provider and model, as an aligned table or CSV."""
    report = usage_report(db, month)
    if csv:
        return usage_csv(report)
    title = (f"利用状況 {month}（日本時間の暦月、費用は推定値） / usage for {month} "
             f"(calendar month in Japan time, estimated cost)\n")
    if not report.rows:
        return title + f"この月の利用はありません / no usage in {month}\n"
    text = title + _aligned(report_table(report))
    if report.totals.unpriced:
        text += (f"注: {report.totals.unpriced} 件はマニフェストの pricing に単価がないため"
                 f"費用に含まれていません\n / note: {report.totals.unpriced} answers have no price "
                 "in the manifest's pricing\n")
    return text
