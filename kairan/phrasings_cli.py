"""``kairan phrasings``: generate staff phrasings with the LLM, export one document's, show coverage.

Registers itself on ``kairan.cli.cli`` (imported at the end of kairan/cli.py), so it can use
the shared options and helpers there in either import order.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kairan.cli import (
    _config,
    _open_store,
    _progress,
    _stage_progress,
    cli,
    err,
    knowledge_options,
    out,
    print_phrasing_index,
)
from kairan.wiring import KnowledgeConfig, phrasing_author, phrasing_sources

if TYPE_CHECKING:
    from bot.state.db import Database
    from knowledge.phrasing_generation import GenerationReport
    from knowledge.phrasing_review import CoverageLine

_FAILURES_SHOWN = 20


@cli.group(name="phrasings")
def phrasings_group() -> None:
    """Staff phrasings per article (職員の言い方): generate, export for review, coverage."""


@phrasings_group.command(name="generate")
@click.argument("doc_ids", nargs=-1)
@click.option(
    "--force",
    is_flag=True,
    help="Ask again for articles already generated (never those with shipped or admin lines).",
)
@knowledge_options
def generate_command(
    doc_ids: tuple[str, ...], force: bool, manifest_path: Path | None, data_dir: Path | None
) -> None:
    """Write phrasings with the configured LLM for articles that have none, then index them.

    \b
    kairan phrasings generate                  every stored document
    kairan phrasings generate 325AC0000000261  only these documents (doc_id as in `kairan search`)
    Unchanged articles cost nothing (cached by content hash in <data_dir>/phrasings/.state).
    While a phrasing file cannot be read, nothing is generated or indexed: fix it first.
    """
    from knowledge.phrasing_generation import update_phrasings
    from knowledge.tokenize import Segmenter

    config = _config(manifest_path, data_dir)
    store = _open_store(config)
    if store.is_empty():
        err.print("[red]知識ベースが空です[/]: まず `kairan ingest` で取り込んでください / ingest first")
        sys.exit(2)
    unknown = sorted(set(doc_ids) - set(store.documents()))
    if unknown:
        raise click.ClickException(f"未登録の文書 / not in the knowledge base: {', '.join(unknown)}")
    db = usage_db(config)
    try:
        author = phrasing_author(config, db=db)
        if author is None:
            raise click.ClickException(
                "LLM が設定されていません (llm.provider: none) / configure an LLM in the manifest (llm)"
            )
        with _progress() as progress:
            update = update_phrasings(
                store,
                phrasing_sources(config),
                author,
                segmenter=Segmenter(),
                doc_ids=list(doc_ids) or None,
                force=force,
                progress=_stage_progress(progress),
            )
    finally:
        if db is not None:
            db.close()
    if update.generated is not None:  # None: a phrasing file could not be read, nothing was asked
        print_generation(update.generated)
    print_phrasing_index(update.indexed)
    failures = [*(update.generated.failures if update.generated else []), *update.errors]
    for message in failures:
        err.print(f"  [red]エラー error:[/] {escape(message)}", soft_wrap=True)
    if failures:
        sys.exit(1)


@phrasings_group.command(name="export")
@click.argument("doc_id")
@click.option(
    "--origin",
    "origins",
    type=click.Choice(["shipped", "admin", "generated"]),
    multiple=True,
    help="Only lines from these origins (repeatable; default: all).",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
@knowledge_options
def export_command(
    doc_id: str,
    origins: tuple[str, ...],
    output: Path | None,
    manifest_path: Path | None,
    data_dir: Path | None,
) -> None:
    """One document's phrasings in the file format, for an admin to review and keep as their own file."""
    from knowledge.phrasing_generation import main_provisions
    from knowledge.phrasing_review import export

    config = _config(manifest_path, data_dir)
    files, errors = phrasing_sources(config).load()
    for message in errors:
        err.print(f"  [yellow]読めないファイル unreadable:[/] {escape(message)}", soft_wrap=True)
    files = [f for f in files if not origins or f.origin in origins]
    store = _open_store(config)
    doc = main_provisions(store, [doc_id]).get(doc_id) if not store.is_empty() else None
    result = export(
        files,
        doc_id,
        title=doc.title if doc else "",
        order=doc.order if doc else (),
        labels=doc.comments if doc else None,
    )
    if result is None:
        raise click.ClickException(f"{doc_id}: 職員の言い方がありません / no phrasings for this document")
    for key in result.cut:
        err.print(f"  [yellow]行数の上限で省略 cut to the per-article limit:[/] article {key}")
    if output is None:
        click.echo(result.text, nl=False)
        return
    output.write_text(result.text, "utf-8")
    n, lines = result.articles, result.lines
    err.print(f"{output}: {n} 条, {lines} 行 / {n} articles, {lines} lines")


@phrasings_group.command(name="coverage")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@knowledge_options
def coverage_command(as_json: bool, manifest_path: Path | None, data_dir: Path | None) -> None:
    """Per stored document: main-provision articles with phrasings, their lines (by origin too), and
    the articles with everyday words."""
    from knowledge.phrasing_review import coverage_report

    config = _config(manifest_path, data_dir)
    files, errors = phrasing_sources(config).load()
    rows = coverage_report(_open_store(config), files)
    for message in errors:
        err.print(f"  [yellow]読めないファイル unreadable:[/] {escape(message)}", soft_wrap=True)
    if as_json:
        click.echo(json.dumps(coverage_json(rows), ensure_ascii=False, indent=2))
        return
    table = Table(title="職員の言い方の網羅率 / phrasing coverage (main-provision articles)")
    table.add_column("doc_id", no_wrap=True)
    table.add_column("title")
    for column in ("covered", "articles", "%", "lines", "words"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("shipped/admin/gen", justify="right", no_wrap=True)
    for r in rows:
        table.add_row(r.doc_id, r.title, *_numbers(r.covered, r.articles, r.lines, r.words, r.by_origin))
    t = coverage_json(rows)["total"]
    totals = (t["covered"], t["articles"], t["lines"], t["words"], t["by_origin"])
    table.add_row("", "計 total", *_numbers(*totals))
    (out if out.is_terminal else Console(width=160)).print(table)  # piped: whole rows, not 80 columns


def coverage_json(rows: list[CoverageLine]) -> dict[str, Any]:
    articles = sum(r.articles for r in rows)
    covered = sum(r.covered for r in rows)
    by_origin = {o: sum(r.by_origin.get(o, 0) for r in rows) for o in ("shipped", "admin", "generated")}
    return {
        "documents": [r.as_json() for r in rows],
        "total": {
            "documents": len(rows),
            "articles": articles,
            "covered": covered,
            "share": round(covered / articles, 4) if articles else 0.0,
            "lines": sum(r.lines for r in rows),
            "words": sum(r.words for r in rows),
            "by_origin": by_origin,
        },
    }


def _numbers(covered: int, articles: int, lines: int, words: int, by_origin: Any) -> list[str]:
    share = f"{100 * covered / articles:.0f}" if articles else "-"
    origins = "/".join(f"{by_origin.get(o, 0):,}" for o in ("shipped", "admin", "generated"))
    return [f"{covered:,}", f"{articles:,}", share, f"{lines:,}", f"{words:,}", origins]


# -- shared with `kairan ingest` --------------------------------------------------------------
def usage_db(config: KnowledgeConfig) -> Database | None:
    """The state database for metering the LLM's tokens; None (tokens printed only) when it cannot open."""
    from kairan.wiring import open_state

    try:
        return open_state(config)
    except Exception as exc:  # metering is a bonus here, never a reason not to generate
        err.print(f"[yellow]利用状況を記録できません / usage not recorded:[/] {escape(str(exc))}")
        return None


def print_generation(report: GenerationReport) -> None:
    """One summary line for the LLM's phrasings (tokens always), then the failed batches."""
    r = report
    tokens_in, tokens_out = f"{r.input_tokens:,}", f"{r.output_tokens:,}"
    err.print(
        f"言い方の生成 (LLM): {r.documents} 文書 {r.articles:,} 条を依頼, {r.phrased:,} 条に {r.lines:,} 行, "
        f"変更なし {r.cached:,} 条, 要求 {r.requests:,} 回, トークン 入力 {tokens_in} / 出力 {tokens_out}, "
        f"失敗 {len(r.failures)} 件 / generated phrasings: {r.articles:,} articles asked in {r.documents} "
        f"documents, {r.lines:,} lines for {r.phrased:,}, {r.cached:,} unchanged, {r.requests:,} requests, "
        f"{tokens_in} input / {tokens_out} output tokens"
        + (f", {r.dropped:,} lines dropped" if r.dropped else ""),
        soft_wrap=True,
    )

