"""``kairan inquiry list|show``: the 照会 sent from the chat, their state and age, and their answers.

Mounted in ``kairan/cli.py`` with ``cli.add_command(inquiry_group)``; reads the state database only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from bot.inquiry.listing import detail, row, table
from bot.inquiry.store import STATES, InquiryStore
from bot.state.db import utc_now
from kairan.wiring import open_state, resolve_config
from manifest.cli import manifest_option
from manifest.schema import Manifest


def _options(command: Any) -> Any:
    command = click.option(
        "--data-dir", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="Data directory (default: the manifest's data_dir).",
    )(command)
    return manifest_option(command)


def destinations(manifest: Manifest) -> dict[str, str]:
    """Tenant id → where its inquiries go, as staff call it."""
    found = {}
    for tenant in manifest.tenants:
        if tenant.inquiries is not None:
            where = tenant.inquiries.destination
            found[tenant.id] = where.name or f"{where.platform} {where.channel}"
    return found


@click.group(name="inquiry")
def inquiry_group() -> None:
    """照会: the inquiries sent from the chat and their answers."""


@inquiry_group.command(name="list")
@click.option("--tenant", default=None, help="Only this tenant's inquiries.")
@click.option("--state", "states", multiple=True, type=click.Choice(STATES),
              help="Only inquiries in this state (repeatable; default: all).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True,
              help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@_options
def list_command(tenant: str | None, states: tuple[str, ...], limit: int, as_json: bool,
                 manifest_path: Path | None, data_dir: Path | None) -> None:
    """Inquiries newest first: number, tenant, state, age (to the first answer), destination, question."""
    config = resolve_config(manifest_path, data_dir)
    db = open_state(config)
    try:
        found = InquiryStore(db).listing(tenant=tenant, states=states or None, limit=limit)
    finally:
        db.close()
    names, now = destinations(config.manifest), utc_now()
    if as_json:
        for inquiry in found:
            click.echo(json.dumps(row(inquiry, destinations=names, now=now), ensure_ascii=False))
        return
    click.echo(table(found, destinations=names, now=now), nl=False)


@inquiry_group.command(name="show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@_options
def show_command(number: str, as_json: bool, manifest_path: Path | None, data_dir: Path | None) -> None:
    """One inquiry (12, #12 or 照会#12): its 照会, where it went, its current answer."""
    digits = number.removeprefix("照会").lstrip("#＃")
    if not digits.isdigit():
        raise click.BadParameter(f"{number!r} is not an inquiry number (12, #12 or 照会#12)")
    config = resolve_config(manifest_path, data_dir)
    db = open_state(config)
    try:
        inquiry = InquiryStore(db).get(int(digits))
    finally:
        db.close()
    if inquiry is None:
        raise click.ClickException(f"照会#{digits} はありません / no inquiry #{digits}")
    names, now = destinations(config.manifest), utc_now()
    if as_json:
        click.echo(json.dumps(row(inquiry, destinations=names, now=now) | {"text": inquiry.text},
                              ensure_ascii=False, indent=1))
        return
    click.echo(detail(inquiry, destinations=names, now=now), nl=False)
