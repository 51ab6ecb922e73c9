"""Slack as kairan runs it: the manifest's platforms.slack (or SLACK_* variables alone)."""

from __future__ import annotations

from adapters.slack.cli import manifest_slack
from adapters.slack.render import DIGEST_ITEMS_PER_MESSAGE
from adapters.spec import PlatformRuntime, PlatformSpec
from bot.ports import Adapter
from manifest.schema import SlackConfig


def build(runtime: PlatformRuntime) -> Adapter | None:
    from adapters.slack.factory import build_slack_adapter  # slack_bolt loads only when it runs

    return build_slack_adapter(runtime)


SLACK = PlatformSpec(
    name="slack", config=SlackConfig, build=build, app_manifest=manifest_slack,
    max_digest_items=DIGEST_ITEMS_PER_MESSAGE,
)  # fmt: skip
