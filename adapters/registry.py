"""The chat platforms kairan runs, one line each (a new platform: its package and a line here)."""

from __future__ import annotations

from adapters.logo.platform import LOGO
from adapters.slack.platform import SLACK
from adapters.spec import PlatformSpec
from adapters.teams.platform import TEAMS

PLATFORMS: tuple[PlatformSpec, ...] = (SLACK, LOGO, TEAMS)
