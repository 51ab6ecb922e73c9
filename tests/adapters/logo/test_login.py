from __future__ import annotations

import pytest

from adapters.logo.login import CODE_PROMPT, LoginError, login_flow, token_request
from tests.fakes.logo_server import BOT_ID, LogoFakeServer


async def test_login_with_device_authorization(server: LogoFakeServer) -> None:
    prompts: list[str] = []

    async def ask_code(prompt: str) -> str:
        prompts.append(prompt)
        return " 123456 \n"

    result = await login_flow(url=server.url, login="admin@example.lg.jp", password="pass-word",
                              ask_code=ask_code, idfv="device-1")
    assert result.token == "issued-1-device-1"
    assert (result.user_id, result.display_name, result.idfv) == (BOT_ID, "回覧板", "device-1")
    assert prompts == [CODE_PROMPT]
    assert server.methods() == ["create_access_token", "create_session", "authorize_device", "create_session"]
    assert server.attempts("create_access_token")[0].params == [
        "admin@example.lg.jp", "pass-word", "device-1", "bot", ""
    ]
    assert server.attempts("authorize_device")[0].params == ["123456", "device-1"]
    assert server.attempts("create_session")[1].params == ["issued-1-device-1", "1.122", "bot"]


async def test_wrong_password_fails_without_echoing_it(server: LogoFakeServer) -> None:
    async def ask_code(prompt: str) -> str:
        raise AssertionError("no device code should be asked")

    with pytest.raises(LoginError) as info:
        await login_flow(url=server.url, login="admin@example.lg.jp", password="Secret-Pa55",
                         ask_code=ask_code)
    assert str(info.value) == (
        "LoGoチャットにログインできませんでした（create_access_token: 401 invalid email or password）"
        " / LoGo login failed at create_access_token: 401 invalid email or password"
    )
    assert "Secret-Pa55" not in str(info.value)


async def test_wrong_device_code_fails(server: LogoFakeServer) -> None:
    async def ask_code(prompt: str) -> str:
        return "000000"

    with pytest.raises(LoginError, match=r"LoGo login failed at authorize_device: 400 invalid code$"):
        await login_flow(url=server.url, login="admin@example.lg.jp", password="pass-word", ask_code=ask_code)


async def test_unreachable_server() -> None:
    async def ask_code(prompt: str) -> str:
        return ""

    unreachable = r"^LoGoチャットに接続できません（ws://127\.0\.0\.1:9/api）.* / cannot reach "
    with pytest.raises(LoginError, match=unreachable):
        await login_flow(url="ws://127.0.0.1:9/api", login="a@b.jp", password="p", ask_code=ask_code,
                         timeout=2)


async def test_a_new_token_not_yet_everywhere_is_tried_again(server: LogoFakeServer) -> None:
    """direct-js retries create_session on 401 "invalid token" (three times, a second apart): a token
    just issued may not have reached every server yet."""
    server.fail_next("create_session", code=401, message="invalid token", times=2)

    async def ask_code(prompt: str) -> str:
        return "123456"

    result = await login_flow(url=server.url, login="admin@example.lg.jp", password="pass-word",
                              ask_code=ask_code, idfv="device-1", token_retry_delay=0.05)
    assert result.user_id == BOT_ID
    assert [c.ok for c in server.attempts("create_session")] == [False, False, False, True]


@pytest.mark.parametrize(
    ("refusal", "japanese"),
    [
        ("expired password", "ボットのアカウントのパスワードの有効期限が切れています。LoGoチャットで"),
        ("deleted account", "ボットのアカウントは LoGoチャットで削除されています。"),
    ],
    ids=["expired-password", "deleted-account"],
)
async def test_a_refused_account_says_why(server: LogoFakeServer, refusal: str, japanese: str) -> None:
    (server.password_expired if refusal == "expired password" else server.deleted).add(BOT_ID)

    async def ask_code(prompt: str) -> str:
        raise AssertionError("no device code should be asked")

    with pytest.raises(LoginError) as info:
        await login_flow(url=server.url, login="admin@example.lg.jp", password="pass-word", ask_code=ask_code)
    assert str(info.value).startswith(japanese)
    assert str(info.value).endswith(f"(LoGo: {refusal})")


def test_token_request_by_signin_id() -> None:
    assert token_request("yamada$yokosuka", "pw", "dev") == (
        "create_access_token_by_id", ["yokosuka", "yamada", "pw", "dev", "bot", ""]
    )
    assert token_request("a@b.jp", "pw", "dev") == ("create_access_token", ["a@b.jp", "pw", "dev", "bot", ""])


async def test_kairan_logo_login_command(server: LogoFakeServer) -> None:
    import asyncio

    from click.testing import CliRunner

    from kairan.cli import cli

    args = ["logo", "login", "--url", server.url, "--login", "admin@example.lg.jp", "--password", "pass-word"]
    # The command runs its own event loop: call it from a worker thread.
    result = await asyncio.to_thread(CliRunner().invoke, cli, args, input="123456\n")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("issued-")
    assert "LOGO_TOKEN" in result.stderr and "pass-word" not in result.output
    assert server.attempts("authorize_device")[0].params[0] == "123456"
