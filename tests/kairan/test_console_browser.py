"""The console in headless Chromium (Debian's /usr/bin/chromium), driven over the DevTools protocol.

The protocol is spoken with aiohttp's WebSocket client, so no browser-automation package is needed.
Skips only when no chromium binary exists (CI installs it in .ci/run).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from kairan.serve import Services, build_app, build_services
from kairan.wiring import KnowledgeConfig
from manifest.schema import Manifest

SCREENSHOT = Path("/tmp/console.png")
SCREENSHOT_ABSTAINED = Path("/tmp/console-abstained.png")
QUESTION = "行政財産である庁舎の空きスペースを民間のカフェに貸すことはできますか？"
UNANSWERABLE = "宇宙ステーションで猫を飼う許可の申請先は？"
E_GOV_ARTICLE = re.compile(r"^https://laws\.e-gov\.go\.jp/law/[0-9A-Z]+#Mp-At_[0-9_]+(-Pr_\d+)?(-It_\d+)?$")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1200,1500",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


# Rendered, not merely flagged: CSS could override the hidden attribute.
SHOWN = "window.shown = (sel) => getComputedStyle(document.querySelector(sel)).display !== 'none'"


def chromium_binary() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


class DevTools:
    """A minimal Chrome DevTools protocol client for one page."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        await self.ws.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self.ws.receive_json(), 30)
            if message.get("id") == call_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    async def eval(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.eval(expression)
            if value:
                return value
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out waiting for {expression}")

    async def click(self, selector: str) -> None:
        element = f"document.querySelector({json.dumps(selector)})"
        box = await self.eval(
            f"{element}.scrollIntoView({{block: 'center', behavior: 'instant'}});"
            f" JSON.stringify({element}.getBoundingClientRect())"
        )
        rect = json.loads(box)
        x, y = rect["x"] + rect["width"] / 2, rect["y"] + rect["height"] / 2
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    async def type_into(self, selector: str, text: str) -> None:
        await self.eval(f"document.querySelector({json.dumps(selector)}).focus()")
        await self.call("Input.insertText", text=text)


@pytest.fixture
def chromium() -> str:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary (apt-get install chromium)")
    return binary


@pytest.fixture
def services(corpus_data_dir: Path, tmp_path: Path) -> Iterator[Services]:
    manifest = Manifest.model_validate({"state": {"url": f"sqlite:///{tmp_path / 'state.db'}"}})
    built = build_services(KnowledgeConfig(manifest=manifest, data_dir=corpus_data_dir), environ={})
    yield built
    built.db.close()


@pytest.fixture
async def console_url(services: Services) -> AsyncIterator[str]:
    server = TestServer(build_app(services, host="127.0.0.1", environ={}), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/console"))
    await server.close()


@pytest.fixture
async def page(chromium: str, tmp_path: Path) -> AsyncIterator[DevTools]:
    profile = tmp_path / "chromium-profile"
    proc = subprocess.Popen(
        [chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            assert proc.poll() is None, f"chromium exited with {proc.returncode}"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
                targets = await r.json()
            target = next(t for t in targets if t["type"] == "page")
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                yield DevTools(ws)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_console_answers_with_e_gov_citations_in_chromium(
    page: DevTools, console_url: str, tmp_path: Path
) -> None:
    await page.call("Page.enable")
    await page.call("Page.navigate", url=console_url)
    await page.wait_for("document.readyState === 'complete' && !!document.getElementById('question')")
    assert await page.eval("document.documentElement.lang") == "ja"
    await page.eval(SHOWN)

    await page.type_into("#question", QUESTION)
    await page.click("#submit")
    href = await page.wait_for(
        "document.querySelector('.turn .citations a[href^=\"https://laws.e-gov.go.jp/law/\"]')?.href"
    )
    assert E_GOV_ARTICLE.match(href), href
    first = json.loads(
        await page.eval(
            """JSON.stringify({
              question: document.querySelector('.turn .question-text').textContent,
              extractive: shown('.turn .badge.extractive'),
              abstained: shown('.turn .badge.abstained'),
              marks: [...document.querySelectorAll('.turn .citations .mark')].map(m => m.textContent),
              refs: [...document.querySelectorAll('.turn .answer-text a.ref')]
                .map(a => a.getAttribute('href')),
              ids: [...document.querySelectorAll('.turn .citations li')].map(li => li.id),
              inquiry: shown('.turn .inquiry'),
            })"""
        )
    )
    assert first["question"] == QUESTION
    assert first["extractive"] is True and first["abstained"] is False  # 「検索結果（AI要約なし）」
    assert first["marks"] and set(first["marks"]) <= {"✅", "⚠️"} and "✅" in first["marks"]
    assert first["refs"] and all(ref.lstrip("#") in first["ids"] for ref in first["refs"])
    assert first["inquiry"] is False
    assert await page.eval("document.getElementById('question').value") == ""

    await screenshot(page, SCREENSHOT)

    # A new conversation (a follow-up in the same thread would search with the earlier question too).
    await page.click("#new-thread")
    assert await page.eval("document.querySelectorAll('.turn').length") == 0
    await page.type_into("#question", UNANSWERABLE)
    await page.click("#submit")
    draft = await page.wait_for(
        "(() => { const t = document.querySelector('.turn');"
        " return t && shown('.turn .inquiry')"
        " && t.querySelector('.inquiry-text').textContent; })()"
    )
    assert "宇宙ステーション" in draft
    assert await page.eval("shown('.turn .badge.abstained')") is True
    assert await page.eval("shown('.turn .badge.extractive')") is False
    assert await page.eval("document.querySelector('.turn .copy').textContent") == "照会文案をコピー"
    await screenshot(page, SCREENSHOT_ABSTAINED)


async def screenshot(page: DevTools, path: Path) -> None:
    shot = await page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    path.write_bytes(png)
