"""``kairan logo``: LoGo Chat tools (the bot's login)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from manifest.cli import manifest_option, manifest_or_exit


@click.group(name="logo")
def logo_group() -> None:
    """LoGo Chat tools (LoGoチャット)."""


@logo_group.command(name="login")
@manifest_option
@click.option("--url", default=None, help="WebSocket endpoint (default: platforms.logo.url).")
@click.option("--login", "login_id", required=True, help="The bot account (e-mail, or id$group).")
@click.password_option("--password", confirmation_prompt=False, help="Prompted when omitted.")
def logo_login(manifest_path: Path | None, url: str | None, login_id: str, password: str) -> None:
    """Obtain the bot's access token (device authorization when asked) and print it once."""
    from adapters.logo.factory import ssl_context
    from adapters.logo.login import LoginError, login_flow

    logo = manifest_or_exit(manifest_path).platforms.logo
    endpoint = url or (logo.url if logo is not None else None)
    if not endpoint:
        raise click.UsageError(
            "接続先がありません: --url か platforms.logo.url を指定してください / no endpoint"
        )

    async def ask_code(prompt: str) -> str:
        return click.prompt(prompt)

    # The connection as platforms.logo sets it up; without the block, login_flow's defaults.
    connection: dict[str, Any] = {}
    try:
        if logo is not None:
            tls = ssl_context(logo)  # ValueError when its ca_file is missing
            connection = {"api_version": logo.api_version, "proxy": logo.proxy, "ssl_context": tls}
        flow = login_flow(url=endpoint, login=login_id, password=password, ask_code=ask_code, **connection)
        result = asyncio.run(flow)
    except (LoginError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    env_name = logo.token_env if logo is not None else "LOGO_TOKEN"
    click.echo(f"ログインしました: {result.display_name}（user id {result.user_id}）/ logged in", err=True)
    notice = f"次のトークンを環境変数 {env_name} に設定してください（この画面以外には保存されません）:"
    click.echo(notice, err=True)
    click.echo(result.token)
