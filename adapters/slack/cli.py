"""``kairan manifest slack``: the Slack app manifest for this installation."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click

from manifest.cli import manifest_option, manifest_or_exit


@click.command(name="slack")
@manifest_option
@click.option("--name", "bot_name", default="kairan", show_default=True, help="Bot display name.")
@click.option("--request-url", default=None, help="Public https URL of /slack/events (HTTP mode).")
@click.option(
    "--mode", type=click.Choice(["socket", "http"]), default=None, help="Override platforms.slack.mode."
)
def manifest_slack(
    manifest_path: Path | None,
    bot_name: str,
    request_url: str | None,
    mode: Literal["socket", "http"] | None,
) -> None:
    """Print the Slack app manifest (scopes and events the code uses), filled from the admin manifest."""
    from adapters.slack.factory import render_app_manifest

    try:
        manifest = manifest_or_exit(manifest_path)
        text = render_app_manifest(manifest, bot_name=bot_name, request_url=request_url, mode=mode)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(text, nl=False)
