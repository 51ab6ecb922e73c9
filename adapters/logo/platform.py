"""LoGo Chat as kairan runs it: the manifest's platforms.logo."""

from __future__ import annotations

from adapters.logo.cli import logo_group
from adapters.spec import PlatformRuntime, PlatformSpec
from bot.ports import Adapter
from manifest.schema import LogoConfig


def build(runtime: PlatformRuntime) -> Adapter | None:
    from adapters.logo.factory import build_logo_adapter

    return build_logo_adapter(runtime)


LOGO = PlatformSpec(name="logo", config=LogoConfig, build=build, cli=logo_group)
