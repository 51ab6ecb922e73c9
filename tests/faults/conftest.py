"""Fault tests (issue 10): each fault ends with no lost and no duplicated message and one clear log line.

The Slack harness (real adapter over real HTTP, the mock Slack Web API, a knowledge base with
行政手続法), the Teams harness (real Agents SDK, local token issuer, mock Bot Connector) and the
LoGo Chat one (the fake LoGo server over a real WebSocket) are the adapters' own test fixtures,
re-exported here.
"""

from __future__ import annotations

import logging
import re

import pytest

from tests.adapters.logo.conftest import manifest, server  # noqa: F401  (fixtures)
from tests.adapters.slack.conftest import (  # noqa: F401  (fixtures)
    audit,
    engine,
    kb_dir,
    make_adapter,
    searcher,
    serve,
    slack,
)
from tests.adapters.teams.conftest import kb_searcher, teams  # noqa: F401  (fixtures)

TRACEBACK = re.compile(r"Traceback \(most recent call last\)")


def loud(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[logging.LogRecord]:
    """Records at ``level`` or above (what an operator's alerting sees)."""
    return [r for r in caplog.records if r.levelno >= level]


def assert_one_clear_line(
    caplog: pytest.LogCaptureFixture, *needles: str, level: int = logging.WARNING
) -> logging.LogRecord:
    """Exactly one record at ``level``+, without a traceback, whose message names every needle."""
    records = loud(caplog, level)
    assert len(records) == 1, [f"{r.name}: {r.getMessage()}" for r in records]
    [record] = records
    message = record.getMessage()
    for needle in needles:
        assert needle in message, (needle, message)
    assert record.exc_info is None and not TRACEBACK.search(message)
    return record
