"""Microsoft Teams as kairan runs it: the manifest's platforms.teams."""

from __future__ import annotations

from adapters.spec import PlatformRuntime, PlatformSpec
from adapters.teams.cli import manifest_teams
from bot.ports import Adapter
from manifest.schema import TeamsConfig


def build(runtime: PlatformRuntime) -> Adapter | None:
    from adapters.teams.factory import build_teams_adapter  # the Agents SDK loads only when it runs

    return build_teams_adapter(runtime)


TEAMS = PlatformSpec(name="teams", config=TeamsConfig, build=build, app_manifest=manifest_teams)
