"""``kairan digest``: preview or force a subscription's digest, and show digest status.

Mounted in ``kairan/cli.py`` with ``cli.add_command(digest_group)``.

Sending (``run`` without ``--dry-run``) needs the chat adapters: they come from
``ctx.obj["adapters"]`` when the caller provides them (tests, the serve process),
otherwise from ``kairan.wiring.build_adapters`` on a runtime of their own.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.table import Table

from bot.ports import Adapter
from kairan.wiring import (
    KnowledgeConfig,
    build_adapters,
    build_digest_runner,
    build_runtime,
    open_state,
    resolve_config,
)
from manifest.cli import manifest_option

err = Console(stderr=True)
out = Console()
JST = ZoneInfo("Asia/Tokyo")

_STATUS_JA = {
    "posted": "投稿済み",
    "empty_posted": "新着なしを投稿",
    "nothing_new": "新着なし",
    "send_failed": "投稿失敗",
    "no_adapter": "接続なし",
    "busy": "実行中",
    "dry_run": "プレビュー",
}


def _options(command: Any) -> Any:
    command = click.option(
        "--data-dir",
        "data_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Knowledge base directory (default: the manifest's data_dir).",
    )(command)
    return manifest_option(command)


def _config(manifest_path: Path | None, data_dir: Path | None) -> KnowledgeConfig:
    from manifest.loader import ManifestError

    try:
        return resolve_config(manifest_path, data_dir)
    except ManifestError as exc:
        err.print(str(exc), markup=False, highlight=False)
        sys.exit(2)


def _jst(value: str | datetime | None) -> str:
    if value is None:
        return "-"
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return moment.astimezone(JST).strftime("%Y-%m-%d %H:%M")


@click.group("digest")
def digest_group() -> None:
    """通知ダイジェスト / circular digests: preview, force, status."""


@digest_group.command("run")
@click.argument("subscription")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print exactly what a post now would carry (Japanese) and how many items would wait; post nothing.",
)
@_options
@click.pass_context
def run_command(
    ctx: click.Context, subscription: str, dry_run: bool, manifest_path: Path | None, data_dir: Path | None
) -> None:
    """Poll SUBSCRIPTION's sources and post its digest now (or preview it with --dry-run).

    A dry run still polls and ingests new documents (they stay pending) but writes no
    ledger entry and posts nothing. It shows the items the post would carry (the platform's
    per-post limit applies, as in the post) and how many more would wait for a later digest.
    """
    from bot.digest.compose import render_text
    from bot.digest.runner import UnknownSubscription

    config = _config(manifest_path, data_dir)
    given: Mapping[str, Adapter] | None = (ctx.obj or {}).get("adapters")
    try:
        result = asyncio.run(_run(config, subscription, dry_run=dry_run, adapters=given))
    except UnknownSubscription as exc:
        raise click.ClickException(str(exc)) from None
    for poll in result.polls:
        if poll.error:
            err.print(f"配信元 {poll.source_id} を取得できませんでした / source skipped: {poll.error}",
                      markup=False, highlight=False)  # fmt: skip
    out.print(render_text(result.digest, waiting=result.waiting), markup=False, highlight=False)
    if dry_run:
        out.print("\n（プレビューのため投稿していません / dry run: nothing posted）", markup=False)
        return
    out.print(
        f"\n{_STATUS_JA.get(result.status, result.status)}: {result.posted}件 / {result.status}",
        markup=False,
        highlight=False,
    )
    if result.status in {"send_failed", "no_adapter"}:
        sys.exit(1)


async def _run(
    config: KnowledgeConfig, subscription: str, *, dry_run: bool, adapters: Mapping[str, Adapter] | None
) -> Any:
    from bot.llm.factory import provider_from_config

    async with AsyncExitStack() as stack:
        llm = provider_from_config(config.manifest.llm)
        if llm is not None:
            stack.push_async_callback(llm.aclose)
        if adapters is None and not dry_run:
            adapters = await _build_adapters(config, stack)
        runner = _runner(config, adapters or {}, llm=llm, ingest=True)
        stack.callback(runner.ledger.db.close)
        stack.push_async_callback(runner.aclose)
        stack.push_async_callback(runner.fetcher.close)
        if not dry_run:
            await runner.reconcile()
        return await runner.run(subscription, dry_run=dry_run)


async def _build_adapters(config: KnowledgeConfig, stack: AsyncExitStack) -> Mapping[str, Adapter]:
    """The manifest's chat adapters, started for this run and stopped afterwards.

    They only post (proactively): nothing listens, so this runs beside ``kairan serve``.
    """
    runtime = build_runtime(config)
    stack.push_async_callback(runtime.close)
    adapters = {a.name: a for a in build_adapters(runtime)}
    if not adapters:
        raise click.ClickException(
            "チャット連携が設定されていません / no chat platform is configured; use --dry-run"
        )
    for adapter in adapters.values():
        await adapter.start()
        stack.push_async_callback(adapter.stop)
    return adapters


def _runner(config: KnowledgeConfig, adapters: Mapping[str, Adapter], *, llm: Any, ingest: bool) -> Any:
    return build_digest_runner(config, adapters, db=open_state(config), llm=llm, ingest=ingest)


@digest_group.command("status")
@_options
def status_command(manifest_path: Path | None, data_dir: Path | None) -> None:
    """Last run, next run and pending items of every subscription."""
    from bot.digest.scheduler import next_fire_time, stored_next_runs

    config = _config(manifest_path, data_dir)
    runner = _runner(config, {}, llm=None, ingest=False)
    rows = runner.status()
    if not rows:
        out.print("ダイジェストの購読はありません / no digest subscriptions in the manifest", markup=False)
        return
    stored = stored_next_runs(runner.ledger.db.engine)
    now = datetime.now(UTC)
    table = Table(title="通知ダイジェスト / digests")
    for column in ("購読 subscription", "チャンネル channel", "予定 schedule", "前回 last run", "結果 result",
                   "次回 next run", "未配信 pending", "確認待ち in doubt"):  # fmt: skip
        table.add_column(column)
    for row in rows:
        sub = row.subscription
        next_run = stored.get(sub.id) if sub.id in stored else next_fire_time(sub.schedule, now)
        result = row.last_status or "-"
        if row.last_posted:
            result += f" ({row.last_posted})"
        table.add_row(
            sub.id,
            f"{sub.ref.platform}:{sub.ref.channel}",
            sub.schedule,
            _jst(row.last_run_at),
            result,
            _jst(next_run),
            str(row.pending),
            str(row.in_doubt),
        )
    Console().print(table)  # created here so that COLUMNS set for this invocation applies
