"""The redelivery loop of a platform's replies kept in the outbox (``bot.state.outbox``) during an outage.

Every ``interval`` seconds it takes the platform's due entries (each leased to this replica) and
posts their messages in order through ``post``. ``classify`` tells a failure apart:
True (an outage: keep the messages not yet posted for a later round, abandoned with one error
line after the outbox's ``give_up_after``), False (refused: abandoned with one error line), None
(not a delivery failure: raised, logged by the loop; the entry is retried when its lease ends).
A completed entry gets one INFO line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.flow.periodic import Periodic, always
from bot.state.outbox import Outbox, Queued

log = logging.getLogger(__name__)

PostOne = Callable[[Queued, Any], Awaitable[None]]  # posts one queued message of the entry
Classify = Callable[[Exception], bool | None]
RunState = Callable[..., Awaitable[Any]]  # runs a state-DB call off the event loop: run(func, *args)


class Redelivery(Periodic):
    """``start()`` with the flow, ``stop()`` before it stops; ``redeliver_due()`` runs one round."""

    def __init__(
        self,
        outbox: Outbox,
        platform: str,
        post: PostOne,
        *,
        classify: Classify,
        label: str,
        describe: Callable[[Queued], str] = lambda entry: entry.key,
        reason: Callable[[Exception], str] = str,
        ready: Callable[[], bool] = always,
        interval: float = 30.0,
        run: RunState = asyncio.to_thread,
    ) -> None:
        self.outbox = outbox
        self.platform = platform
        self.post = post
        self.classify = classify
        self.label = label  # "Teams", "LoGo": how the platform is named in log lines
        self.describe = describe
        self.reason = reason  # the failure as one short log phrase
        self.run = run
        super().__init__(interval=interval, ready=ready)  # ready False: skip the round, nothing is taken
        self.failure = f"posting queued {label} answers failed"

    async def run_round(self) -> int:
        return await self.redeliver_due()

    async def redeliver_due(self) -> int:
        """Post the queued answers that are due, each in order; returns how many were completed."""
        done = 0
        for entry in await self.run(self.outbox.take_due, self.platform):
            if await self._redeliver(entry):
                done += 1
        return done

    async def _redeliver(self, entry: Queued) -> bool:
        rest = list(entry.messages)
        try:
            while rest:
                await self.post(entry, rest[0])
                rest.pop(0)
        except Exception as exc:
            outage = self.classify(exc)
            if outage is None:
                raise
            if outage:
                if not await self.run(self.outbox.retry_later, entry, rest):
                    log.error(
                        "queued %s answer %s abandoned after %d attempts: %s",
                        self.label, self.describe(entry), entry.attempts, self.reason(exc),
                    )
                return False
            log.error("queued %s answer %s refused: %s; not posted",
                      self.label, self.describe(entry), self.reason(exc))
            await self.run(self.outbox.abandon, entry, rest)
            return False
        await self.run(self.outbox.delivered, entry)
        log.info(
            "queued %s answer %s posted (attempt %d)", self.label, self.describe(entry), entry.attempts
        )
        return True
