"""Malformed bodies to the console API get 400 with a Japanese reason, never a 500 or a traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from kairan.serve import Services, build_services
from tests.kairan.test_serve import API, client_for, config_for

BAD_BODIES = [
    b'{"question": "\xff\xfe\xfd"}',  # invalid UTF-8
    b"\xef\xbb\xbf\x80",  # a BOM, then a stray continuation byte
    b'{"question": "\xe8\xa1"}',  # a character cut in half
    b"not json",
]


@pytest.fixture
def services(corpus_data_dir: Path, tmp_path: Path) -> Iterator[Services]:
    built = build_services(config_for(corpus_data_dir, tmp_path / "state"), environ={})
    built.scheduler = SimpleNamespace(runner=None, subscriptions=[SimpleNamespace(id="weekday")])
    yield built
    built.db.close()


@pytest.mark.parametrize("path", ["/console/api/ask", "/console/api/stream", "/console/api/digest-preview"])
@pytest.mark.parametrize("body", BAD_BODIES)
async def test_undecodable_bodies_get_400_and_no_traceback(
    services: Services, path: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client = await client_for(services)
    try:
        r = await client.post(path, data=body, headers={**API, "Content-Type": "application/json"})
        assert r.status == 400, await r.text()
        assert (await r.json())["error"] == "本文が JSON ではありません。"
    finally:
        await client.close()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
