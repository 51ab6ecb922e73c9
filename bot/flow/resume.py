"""Questions in flight: one whose bot died mid-answer is answered again by a replica.

The question flow (``bot.flow.lifecycle``) claims each question with ``claim`` (the event ledger and
``bot.state.inflight``, in one transaction) and answers it inside ``answering``: while the answer
runs the row is touched every third of ``stale_after``; when it ends (answered, apologised for,
handed to the outbox, or failed with an exception) the row is dropped; when the task is cancelled (a
bot stopped past its drain timeout) it is kept, so a replica resumes it. Every ``interval`` seconds
the resume loop takes the platform's interrupted rows (each leased to this replica) and, each in a
task of its own, answers one again (one WARNING line) or, past ``max_attempts``, gives it up (one
ERROR line, a short apology is posted) and drops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from bot.flow.periodic import Periodic, always
from bot.state.db import utc_now
from bot.state.inflight import InFlight, Interrupted

log = logging.getLogger(__name__)

Handle = Callable[[Interrupted], Awaitable[None]]
RunState = Callable[..., Awaitable[Any]]  # runs a state-DB call off the event loop: run(func, *args)
Spawn = Callable[[Coroutine[Any, Any, None]], object]  # runs a coroutine as one of the flow's tracked tasks


class Resumer(Periodic):
    """``start()`` with the flow, ``stop()`` before it stops; ``resume_interrupted()`` runs one round."""

    def __init__(
        self,
        inflight: InFlight,
        platform: str,
        *,
        answer: Handle,
        give_up: Handle,
        spawn: Spawn,
        label: str,
        describe: Callable[[Interrupted], str],
        ready: Callable[[], bool] = always,
        interval: float = 60.0,
        run: RunState = asyncio.to_thread,
    ) -> None:
        self.inflight = inflight
        self.platform = platform
        self.answer = answer  # answers the question again (inside ``answering``)
        self.give_up = give_up  # posts the apology asking to ask again
        self.spawn = spawn
        self.label = label  # "Teams", "LoGo": how the platform is named in log lines
        self.describe = describe  # e.g. "message 12 in talk 200"
        self.run = run  # e.g. the flow's own state threads, apart from the searches' default executor
        super().__init__(interval=interval, ready=ready)  # ready False: skip the round, nothing is taken
        self.failure = f"resuming interrupted {label} questions failed"
        self.in_progress: set[str] = set()  # event ids this replica is answering now

    # -- the question being answered ----------------------------------------------------------
    async def claim(self, event_id: str, payload: dict[str, Any]) -> bool:
        """Claim the event (True the first time only) and record the question as in flight."""
        return await self.run(self.inflight.claim, self.platform, event_id, payload)

    @asynccontextmanager
    async def answering(self, event_id: str) -> AsyncIterator[None]:
        """Keep the question alive while the body runs; drop it when the body ends, not when cancelled."""
        alive = asyncio.create_task(self._keep_alive(event_id))
        self.in_progress.add(event_id)
        ended = False
        try:
            yield
            ended = True
        except Exception:
            ended = True
            raise
        finally:
            alive.cancel()
            self.in_progress.discard(event_id)
            if ended:
                await self.done(event_id)

    async def _keep_alive(self, event_id: str) -> None:
        period = self.inflight.stale_after.total_seconds() / 3
        while True:
            await asyncio.sleep(period)
            try:
                await self.run(self.inflight.touch, self.platform, event_id)
            except Exception as exc:  # the answer goes on; at worst it is answered twice
                log.warning("%s question %s: keeping it in flight failed: %s",
                            self.label, event_id, type(exc).__name__)

    async def done(self, event_id: str) -> None:
        try:
            await self.run(self.inflight.done, self.platform, event_id)
        except Exception:
            log.exception("%s question %s: marking it done failed; it may be answered again later",
                          self.label, event_id)

    # -- the resume loop (``start()`` / ``stop()`` from Periodic) --------------------------------
    async def run_round(self) -> int:
        return await self.resume_interrupted()

    async def resume_interrupted(self) -> int:
        """Answer (or give up) the questions a bot stopped answering; returns how many were taken."""
        answering = frozenset(self.in_progress)  # late touches must not hand this replica its own question
        taken = await self.run(partial(self.inflight.take_interrupted, self.platform, answering=answering))
        for entry in taken:
            # Each beside the others: one slow answer must not hold the rest past their lease.
            self.spawn(self._resume(entry))
        return len(taken)

    async def _resume(self, entry: Interrupted) -> None:
        since = (utc_now() - entry.started).total_seconds()
        if entry.attempts > self.inflight.max_attempts:
            log.error(
                "%s question %s was interrupted too often (resumed %d times, asked %d s ago): given up, "
                "the asker is asked to try again",
                self.label, self.describe(entry), entry.attempts - 1, since,
            )
            try:
                await self.give_up(entry)
            except Exception:
                log.exception("%s question %s: posting the apology failed", self.label, self.describe(entry))
            await self.done(entry.event_id)
            return
        log.warning(
            "%s question %s was interrupted (its bot stopped while answering, %d s ago): answering it "
            "again (attempt %d)",
            self.label, self.describe(entry), since, entry.attempts,
        )
        try:
            await self.answer(entry)
        except Exception:
            log.exception("%s question %s: answering it again failed", self.label, self.describe(entry))
