"""A round of work a question flow runs every few seconds while it is started (redelivery, resumption)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def always() -> bool:
    return True


class Periodic:
    """``start()`` with the flow, ``stop()`` before it stops; ``run_round()`` is one round.

    A round is skipped while ``ready()`` is False (e.g. disconnected); a round that fails is logged
    with ``failure`` and the next one runs as planned.
    """

    failure = "a periodic round failed"

    def __init__(self, *, interval: float, ready: Callable[[], bool] = always) -> None:
        self.interval = interval
        self.ready = ready
        self._task: asyncio.Task[None] | None = None

    async def run_round(self) -> int:
        raise NotImplementedError

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                if self.ready():
                    await self.run_round()
            except Exception:
                log.exception(self.failure)
