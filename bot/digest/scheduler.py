"""Digest schedules: APScheduler 3.x ``AsyncIOScheduler`` with a persistent SQLAlchemy job store.

One job per subscription (id ``digest:{subscription}``), a ``CronTrigger`` in
Asia/Tokyo, stored in its own table of the state database. ``coalesce=True`` and a
misfire grace time mean that after downtime the missed fire times collapse into one
catch-up run (when the latest one is within the grace time), never a burst; the
ledger makes that one run include everything that appeared meanwhile (no gap) and
nothing already posted (no duplicate).

Jobs already in the store are kept as they are on start (``add_job(replace_existing=True)``
would recompute their next run time and silently drop a missed tick); only a changed
schedule is rescheduled, and jobs of removed subscriptions are deleted.

Stored jobs must name a module-level callable, so the job function is the placeholder
``digest_job``; the scheduler's own executor runs ``DigestRunner.run`` for the
subscription id in the job's args, so no runner lives in a global.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.executors.base import run_coroutine_job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine, Float, MetaData, String, select
from sqlalchemy import Table as SATable
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.schema import Column

from bot.digest.config import Subscription
from bot.digest.runner import DigestRunner
from bot.state.db import create_tables
from bot.state.events import EventLedger

log = logging.getLogger(__name__)

TIMEZONE = "Asia/Tokyo"
JOB_TABLE = "digest_jobs"
JOB_PREFIX = "digest:"
DEFAULT_MISFIRE_GRACE_S = 6 * 3600

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DOW_ITEM = re.compile(r"^(\*|\d+)(?:-(\d+))?(?:/(\d+))?$")

RunFn = Callable[[str], Awaitable[Any]]
ClaimFn = Callable[[str, datetime], bool]  # (job id, fire time) → whether this replica runs it
TICK_PLATFORM = "digest-tick"  # claims in the processed-event ledger, one per job and fire time


def _cron_days(field: str) -> str:
    """Standard cron weekdays (0 or 7 = Sunday, names allowed) → APScheduler names (its 0 is Monday)."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for raw in field.lower().split(","):
        item = raw
        for i, name in enumerate(_DAYS):
            item = re.sub(rf"\b{name}\b", str(i), item)
        m = _DOW_ITEM.match(item)
        if not m:
            raise ValueError(f"invalid cron weekday {raw!r} in {field!r}")
        start, end, step = m.group(1), m.group(2), int(m.group(3) or 1)
        lo, hi = (0, 6) if start == "*" else (int(start), int(end) if end else int(start))
        if m.group(3) and start != "*" and not end:
            hi = 6
        if not (0 <= lo <= 7 and 0 <= hi <= 7 and lo <= hi):
            raise ValueError(f"invalid cron weekday range {raw!r} in {field!r}")
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_DAYS[d] for d in sorted(days))


def cron_trigger(expression: str, timezone: str = TIMEZONE) -> CronTrigger:
    """A 5-field cron expression (as validated by the manifest) as an APScheduler trigger.

    Differences from Vixie cron worth knowing: when both day-of-month and weekday are
    restricted, APScheduler requires both to match (cron fires when either does).
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"cron needs 5 fields (minute hour day month weekday), got {expression!r}")
    minute, hour, day, month, dow = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month.lower(),
        day_of_week=_cron_days(dow),
        timezone=ZoneInfo(timezone),
    )


async def digest_job(subscription_id: str) -> None:
    """Placeholder job function stored in the job store; ``DigestScheduler`` runs the real work."""
    raise RuntimeError(
        f"digest job {subscription_id!r} must be run by DigestScheduler's executor, not called directly"
    )


class _BoundJob:
    """A job as the executor's runner sees it: the stored job with the real coroutine bound in."""

    def __init__(self, job: Any, run: RunFn) -> None:
        self._job = job
        self.id = job.id
        self.args = job.args
        self.kwargs: dict[str, Any] = {}
        self.misfire_grace_time = job.misfire_grace_time
        self.func = run

    def __str__(self) -> str:
        return str(self._job)


class _RunnerExecutor(AsyncIOExecutor):
    """Runs stored digest jobs by calling the scheduler's ``run`` with the job's subscription id."""

    def __init__(self, run: RunFn, claim: ClaimFn) -> None:
        super().__init__()
        self._run = run
        self._claim = claim

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def done(f: Any) -> None:
            self._pending_futures.discard(f)
            try:
                events = f.result()
            except BaseException as exc:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, events)

        tick = max(run_times)  # coalesced: one run for every missed fire time

        async def run_once(subscription_id: str) -> str:
            # Replicas share the job table, so each fires the same tick: the first to claim it runs it.
            if not await asyncio.to_thread(self._claim, job.id, tick):
                log.info("digest %s: the run for %s was started by another replica", subscription_id, tick)
                return "claimed_elsewhere"
            return await self._run(subscription_id)

        bound = _BoundJob(job, run_once)
        task = self._eventloop.create_task(
            run_coroutine_job(bound, job._jobstore_alias, run_times, self._logger.name)
        )
        task.add_done_callback(done)
        self._pending_futures.add(task)


class _SharedEngineJobStore(SQLAlchemyJobStore):
    """The job store on the state DB's engine, which it must not dispose of when the scheduler stops.

    (APScheduler's ``shutdown`` disposes the engine from the event loop while other threads may hold
    pooled connections; those would be orphaned, and the state DB closes the engine itself.)
    """

    def start(self, scheduler: Any, alias: str) -> None:
        # APScheduler checks for its table and then creates it: two replicas starting together on a
        # fresh PostgreSQL could both try. The state DB's schema lock makes the second one wait.
        create_tables(self.engine, self.jobs_t.metadata)
        super().start(scheduler, alias)

    def shutdown(self) -> None:
        pass


class DigestScheduler:
    """Fires each subscription's digest on its cron schedule. ``await start()`` inside a running loop."""

    def __init__(
        self,
        *,
        runner: DigestRunner,
        subscriptions: Sequence[Subscription],
        engine: Engine,
        tablename: str = JOB_TABLE,
        timezone: str = TIMEZONE,
        misfire_grace_s: int = DEFAULT_MISFIRE_GRACE_S,
        run: RunFn | None = None,
    ) -> None:
        self.runner = runner
        self.subscriptions = list(subscriptions)
        self.timezone = timezone
        self.misfire_grace_s = misfire_grace_s
        self._run = run or self._run_subscription
        self._ticks = EventLedger(runner.ledger.db)
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": _SharedEngineJobStore(engine=engine, tablename=tablename)},
            executors={"default": _RunnerExecutor(self._run, self._claim_tick)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": misfire_grace_s},
            timezone=ZoneInfo(timezone),
        )

    def _claim_tick(self, job_id: str, tick: datetime) -> bool:
        return self._ticks.claim(TICK_PLATFORM, f"{job_id}@{tick.astimezone(UTC).isoformat()}")

    async def _run_subscription(self, subscription_id: str) -> str:
        result = await self.runner.run(subscription_id)
        log.info("digest %s: %s (%d items)", subscription_id, result.status, result.posted)
        return result.status

    async def start(self) -> None:
        """Reconcile interrupted sends, then start with the stored jobs synced to the subscriptions."""
        await self.runner.reconcile()
        self.scheduler.start(paused=True)
        self.sync_jobs()
        self.scheduler.resume()

    async def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def sync_jobs(self) -> None:
        wanted = {JOB_PREFIX + s.id: s for s in self.subscriptions}
        for job in self.scheduler.get_jobs():
            if job.id.startswith(JOB_PREFIX) and job.id not in wanted:
                log.info("digest schedule %s removed (subscription gone)", job.id)
                job.remove()
        for job_id, sub in wanted.items():
            trigger = cron_trigger(sub.schedule, self.timezone)
            job = self.scheduler.get_job(job_id)
            if job is None:
                self.scheduler.add_job(
                    digest_job,
                    trigger,
                    args=[sub.id],
                    id=job_id,
                    name=f"digest {sub.id}",
                    replace_existing=True,
                )
            elif str(job.trigger) != str(trigger) or str(job.trigger.timezone) != str(trigger.timezone):
                log.info("digest schedule %s changed to %r", job_id, sub.schedule)
                self.scheduler.reschedule_job(job_id, trigger=trigger)
            elif job.misfire_grace_time != self.misfire_grace_s:
                job.modify(misfire_grace_time=self.misfire_grace_s, coalesce=True)

    def next_runs(self) -> dict[str, datetime | None]:
        return {
            job.id.removeprefix(JOB_PREFIX): job.next_run_time
            for job in self.scheduler.get_jobs()
            if job.id.startswith(JOB_PREFIX)
        }


def stored_next_runs(engine: Engine, tablename: str = JOB_TABLE) -> dict[str, datetime | None]:
    """Next run times as stored by a (possibly stopped) scheduler, without starting one."""
    table = SATable(tablename, MetaData(), Column("id", String(191)), Column("next_run_time", Float))
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(table.c.id, table.c.next_run_time)).all()
    except SQLAlchemyError:  # no table yet: the scheduler never ran
        return {}
    tz = ZoneInfo(TIMEZONE)
    return {
        row[0].removeprefix(JOB_PREFIX): datetime.fromtimestamp(row[1], tz) if row[1] is not None else None
        for row in rows
        if row[0].startswith(JOB_PREFIX)
    }


def next_fire_time(expression: str, now: datetime, timezone: str = TIMEZONE) -> datetime | None:
    """When a schedule would fire next after ``now`` (for status before the scheduler ran)."""
    return cron_trigger(expression, timezone).get_next_fire_time(None, now)
