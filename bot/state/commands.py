"""CLI bodies for ``kairan audit verify`` and ``kairan usage report`` (mounted on click elsewhere)."""

from __future__ import annotations

import unicodedata

from bot.state.audit import AuditLog
from bot.state.db import Database
from bot.state.usage import report_table, usage_csv, usage_report

KIND_LABELS = {
    "edited": "改ざん（内容の変更） edited",
    "deleted": "削除 deleted",
    "reordered": "順序の入れ替え reordered",
    "inserted": "不正な追加 inserted",
}


def audit_verify(db: Database) -> tuple[int, str]:
    """(exit code, text): 0 when the chain is intact, 1 when any record was tampered with."""
    report = AuditLog(db).verify()
    if report.ok:
        return 0, (f"監査ログは正常です（{report.records} 件、改ざんは見つかりませんでした）\n"
                   f"audit log OK: {report.records} records, no tampering found\n")
    lines = [
        f"監査ログに {len(report.problems)} 件の異常があります（全 {report.records} 件）",
        f"audit log: {len(report.problems)} problem(s) in {report.records} records",
    ]
    for p in report.problems:
        lines.append(f"  seq {p.seq}  {KIND_LABELS[p.kind]}  id={p.id or '-'}  {p.detail}")
    return 1, "\n".join(lines) + "\n"


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
