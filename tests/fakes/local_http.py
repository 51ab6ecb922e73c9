"""Local servers for the fakes and the adapter tests: on 127.0.0.1, at a port the system picks."""

from __future__ import annotations

import socket
from typing import Any, ClassVar, Self

from aiohttp import web


async def serve_locally(app: web.Application, **runner_options: Any) -> tuple[web.AppRunner, int]:
    """Start ``app`` on 127.0.0.1 at a free port (no access log): its runner, to clean up, and the port."""
    runner = web.AppRunner(app, access_log=None, **runner_options)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, int(runner.addresses[0][1])


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a server started in another process."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServer:
    """A fake serving its aiohttp app on 127.0.0.1 for the length of an ``async with``.

    Subclasses build the app in ``app`` (called on entering) and may let go of what they hold open (web
    sockets, waiting handlers) in ``closing``, which runs before the server stops.
    """

    runner_options: ClassVar[dict[str, Any]] = {}
    _runner: web.AppRunner | None = None
    _port: int = 0

    def app(self) -> web.Application:
        raise NotImplementedError

    async def closing(self) -> None:
        """What to let go of before the server stops; nothing by default."""

    @property
    def port(self) -> int:
        """The port it serves on (0 before it starts and after it stops)."""
        return self._port

    async def __aenter__(self) -> Self:
        self._runner, self._port = await serve_locally(self.app(), **self.runner_options)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.closing()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._port = 0
