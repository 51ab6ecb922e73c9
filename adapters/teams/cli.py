"""``kairan manifest teams``: the Teams app package (manifest.json and icons in a zip)."""

from __future__ import annotations

from pathlib import Path

import click

from manifest.cli import manifest_option, manifest_or_exit


@click.command(name="teams")
@manifest_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("kairan-teams.zip"),
    show_default=True,
    help="Where to write the Teams app package.",
)
@click.option(
    "--bot-id",
    default=None,
    help="Microsoft App ID (default: the variable platforms.teams.app_id_env names).",
)
@click.option("--name", default="kairan", show_default=True, help="App name shown in Teams.")
@click.option("--website-url", default=None, help="Publisher's page (default: app_package.website_url).")
@click.option("--privacy-url", default=None, help="Privacy statement (default: app_package.privacy_url).")
@click.option("--terms-url", default=None, help="Terms of use (default: app_package.terms_url).")
def manifest_teams(
    manifest_path: Path | None,
    out: Path,
    bot_id: str | None,
    name: str,
    website_url: str | None,
    privacy_url: str | None,
    terms_url: str | None,
) -> None:
    """Build the Teams app package (manifest.json and icons in a zip).

    The publisher's pages come from the manifest's platforms.teams.app_package (an option given
    here wins); the package is not built while one of the three is missing.
    """
    from adapters.teams.package import build_app_package
    from manifest.secrets import MissingSecret, secret_from_env

    manifest = manifest_or_exit(manifest_path)
    teams = manifest.platforms.teams
    pages = teams.app_package if teams is not None else None
    if bot_id is None:
        env_name = teams.app_id_env if teams is not None else "TEAMS_APP_ID"
        try:
            bot_id = secret_from_env(env_name, field="platforms.teams.app_id_env")
        except MissingSecret as exc:
            raise click.ClickException(str(exc)) from exc
    urls = {
        "website_url": website_url or (pages.website_url if pages else None),
        "privacy_url": privacy_url or (pages.privacy_url if pages else None),
        "terms_url": terms_url or (pages.terms_url if pages else None),
    }
    try:
        path = build_app_package(out, bot_id=bot_id, name=name, **urls)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Teams アプリパッケージを作成しました / app package written: {path}")
