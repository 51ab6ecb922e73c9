"""A local web server for digest tests: feed files and real documents over HTTP on 127.0.0.1.

Usage::

    async with FeedServer() as server:
        server.put("/feeds/soumu.rdf", rdf_bytes, "application/rss+xml")
        server.mirror("www.nta.go.jp", CORPUS / "circulars" / "nta")  # /law/... → crawled files
        server.fail("/feeds/broken.xml", "500")       # or "invalid_xml", "oversized", "endless"
        server.redirect("/old.rss", "http://elsewhere/new.rss")  # 302 to any URL

Every resource carries an ``ETag`` (a hash of its body) and a fixed ``Last-Modified``;
``If-None-Match`` / ``If-Modified-Since`` that still match get ``304 Not Modified``.
``requests`` records (path, If-None-Match, If-Modified-Since, status) of every request.
Feed text may contain ``{base}``, replaced by the server's base URL when served.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Literal

from aiohttp import web

from tests.fakes.local_http import LocalServer

Failure = Literal["500", "invalid_xml", "oversized", "oversized_declared", "endless"]
OVERSIZED_BYTES = 3 * 1024 * 1024
ENDLESS_INTERVAL_S = 0.05  # an "endless" body sends a little this often, forever


@dataclass
class Resource:
    body: bytes
    content_type: str
    last_modified: datetime


@dataclass(frozen=True)
class Request:
    path: str
    if_none_match: str | None
    if_modified_since: str | None
    status: int


class FeedServer(LocalServer):
    def __init__(self) -> None:
        self._resources: dict[str, Resource] = {}
        self._mirrors: list[tuple[str, Path]] = []
        self._failures: dict[str, Failure] = {}
        self._redirects: dict[str, str] = {}
        self.requests: list[Request] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def host(self) -> str:
        """``127.0.0.1:port``, as a manifest names a host with its port."""
        return f"127.0.0.1:{self._port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def redirect(self, path: str, location: str) -> None:
        """Answer ``path`` with 302 Found to ``location``."""
        self._redirects[path] = location

    def put(
        self,
        path: str,
        body: bytes,
        content_type: str = "application/xml",
        *,
        modified: datetime | None = None,
    ) -> None:
        """Serve ``body`` at ``path`` ({base} in it becomes the base URL); replaces a previous version."""
        stamp = modified or datetime(2025, 4, 1, 1, 0, 0, tzinfo=UTC)
        self._resources[path] = Resource(body, content_type, stamp)

    def mirror(self, host: str, directory: Path) -> None:
        """Serve crawled copies of ``host``: path ``/a/b.htm`` → file ``{host}_a_b.htm`` in ``directory``.

        That is the naming of the 国税庁 pages in the shared corpus; files are read at request
        time, never copied.
        """
        self._mirrors.append((host, directory))

    def fail(self, path: str, failure: Failure) -> None:
        self._failures[path] = failure

    def heal(self, path: str) -> None:
        self._failures.pop(path, None)

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        return app

    def _find(self, path: str) -> Resource | None:
        if path in self._resources:
            return self._resources[path]
        for host, directory in self._mirrors:
            if "/." not in path:
                file = directory / (host + path.replace("/", "_"))
                if file.is_file():
                    kind = "application/pdf" if file.suffix == ".pdf" else "text/html"
                    modified = datetime.fromtimestamp(int(file.stat().st_mtime), UTC)
                    return Resource(file.read_bytes(), kind, modified)
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        inm = request.headers.get("If-None-Match")
        ims = request.headers.get("If-Modified-Since")
        response = await self._respond(request, path, inm, ims)
        self.requests.append(Request(path, inm, ims, response.status))
        return response

    async def _respond(
        self, request: web.Request, path: str, inm: str | None, ims: str | None
    ) -> web.StreamResponse:
        if path in self._redirects:
            return web.Response(status=302, headers={"Location": self._redirects[path]})
        failure = self._failures.get(path)
        if failure == "endless":  # a feed that never ends: a few bytes at a time, forever
            stream = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
            stream.enable_chunked_encoding()
            await stream.prepare(request)
            try:
                await stream.write(b'<?xml version="1.0"?><rss version="2.0"><channel>')
                while True:
                    await asyncio.sleep(ENDLESS_INTERVAL_S)
                    await stream.write(b"<!-- more -->")
            except (ConnectionResetError, RuntimeError):
                pass
            return stream
        if failure == "500":
            return web.Response(status=500, text="Internal Server Error")
        if failure == "oversized_declared":
            return web.Response(body=b"<" + b"x" * OVERSIZED_BYTES, content_type="application/xml")
        if failure == "oversized":  # chunked: no Content-Length, the client must stop reading
            stream = web.StreamResponse(headers={"Content-Type": "application/xml"})
            stream.enable_chunked_encoding()
            await stream.prepare(request)
            block = b"<!-- " + b"x" * (64 * 1024) + b" -->"
            try:
                for _ in range(OVERSIZED_BYTES // len(block) + 2):
                    await stream.write(block)
            except (ConnectionResetError, RuntimeError):
                pass
            return stream
        if failure == "invalid_xml":
            body = b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>broken</title><item><title>x'
            return web.Response(body=body, content_type="application/xml")
        resource = self._find(path)
        if resource is None:
            return web.Response(status=404, text="Not Found")
        body = resource.body.replace(b"{base}", self.base_url.encode())
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        last_modified = format_datetime(resource.last_modified, usegmt=True)
        headers = {"ETag": etag, "Last-Modified": last_modified}
        if inm is not None:
            if etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*":
                return web.Response(status=304, headers=headers)
        elif ims is not None:
            try:
                if resource.last_modified <= parsedate_to_datetime(ims):
                    return web.Response(status=304, headers=headers)
            except (TypeError, ValueError):
                pass
        headers["Content-Type"] = resource.content_type
        return web.Response(body=body, headers=headers)
