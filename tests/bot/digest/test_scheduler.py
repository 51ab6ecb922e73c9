from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import inspect

from bot.digest.scheduler import DigestScheduler, cron_trigger, next_fire_time, stored_next_runs
from bot.state.db import Database
from tests.bot.digest.conftest import RunnerFactory, subscription
from tests.fakes.adapters import RecordingAdapter

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        (
            "30 8 * * mon-fri",
            datetime(2025, 5, 3, 12, 0, tzinfo=TOKYO),
            datetime(2025, 5, 5, 8, 30, tzinfo=TOKYO),
        ),
        (
            "30 8 * * 1-5",
            datetime(2025, 5, 5, 8, 31, tzinfo=TOKYO),
            datetime(2025, 5, 6, 8, 30, tzinfo=TOKYO),
        ),
        ("0 9 * * 0", datetime(2025, 5, 5, 0, 0, tzinfo=TOKYO), datetime(2025, 5, 11, 9, 0, tzinfo=TOKYO)),
        ("0 9 * * 7", datetime(2025, 5, 5, 0, 0, tzinfo=TOKYO), datetime(2025, 5, 11, 9, 0, tzinfo=TOKYO)),
        (
            "*/15 17 1 apr *",
            datetime(2025, 4, 1, 17, 20, tzinfo=TOKYO),
            datetime(2025, 4, 1, 17, 30, tzinfo=TOKYO),
        ),
    ],
)
def test_cron_in_tokyo_with_standard_weekday_numbers(cron: str, after: datetime, expected: datetime) -> None:
    # 2025-05-03 is a Saturday, 2025-05-11 a Sunday; cron's 0 and 7 are Sunday (APScheduler's 0 is Monday).
    assert cron_trigger(cron).get_next_fire_time(None, after) == expected
    assert next_fire_time(cron, after.astimezone(UTC)) == expected


def _stored_job_pushed_back(db: Database, job_id: str, to: datetime) -> None:
    """Simulate downtime: the stored job's next run lies in the past, as after a stopped process."""
    url = db.engine.url.render_as_string(hide_password=False)  # its own engine: disposed at shutdown
    scheduler = AsyncIOScheduler(jobstores={"default": SQLAlchemyJobStore(url=url, tablename="digest_jobs")})
    scheduler.start(paused=True)
    scheduler.modify_job(job_id, next_run_time=to)
    scheduler.shutdown(wait=False)


async def _wait_for(predicate: object, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_restart_after_downtime_sends_one_catch_up_digest(
    db: Database, make_runner: RunnerFactory
) -> None:
    adapter = RecordingAdapter()
    subs = [subscription("every-minute", schedule="* * * * *", post_when_empty=True)]
    if datetime.now().second >= 55:  # the first scheduler must not reach a minute boundary of its own
        await asyncio.sleep(61 - datetime.now().second)
    first = DigestScheduler(runner=make_runner([], subs, adapter), subscriptions=subs, engine=db.engine)
    await first.start()
    await asyncio.sleep(0.1)  # let it look for due jobs once, as a running process does
    next_run = first.next_runs()["every-minute"]
    assert next_run is not None and next_run.tzinfo is not None
    await first.stop()
    assert "digest_jobs" in inspect(db.engine).get_table_names()
    assert stored_next_runs(db.engine) == {"every-minute": next_run}

    # Down for ten minutes: ten fire times were missed.
    _stored_job_pushed_back(db, "digest:every-minute", datetime.now(TOKYO) - timedelta(minutes=10))
    second = DigestScheduler(runner=make_runner([], subs, adapter), subscriptions=subs, engine=db.engine)
    await second.start()
    try:
        await _wait_for(lambda: len(adapter.digests) >= 1)
        await asyncio.sleep(0.5)
        assert len(adapter.digests) == 1  # coalesced: one catch-up run, not ten
        assert second.next_runs()["every-minute"] > datetime.now(TOKYO)  # type: ignore[operator]
    finally:
        await second.stop()


async def test_a_missed_run_beyond_the_grace_time_is_skipped(
    db: Database, make_runner: RunnerFactory
) -> None:
    adapter = RecordingAdapter()
    # A daily time half a day away: no fire time falls inside the two hours the job is pushed back
    # (a fixed 03:00 made this fail whenever the suite ran between 03:00 and 04:00 in Tokyo).
    hour = (datetime.now(TOKYO) + timedelta(hours=12)).hour
    subs = [subscription("daily", schedule=f"0 {hour} * * *", post_when_empty=True)]
    first = DigestScheduler(runner=make_runner([], subs, adapter), subscriptions=subs, engine=db.engine)
    await first.start()
    await asyncio.sleep(0.1)
    await first.stop()
    _stored_job_pushed_back(db, "digest:daily", datetime.now(TOKYO) - timedelta(hours=2))
    second = DigestScheduler(
        runner=make_runner([], subs, adapter), subscriptions=subs, engine=db.engine, misfire_grace_s=3600
    )
    await second.start()
    try:
        await asyncio.sleep(0.5)
        assert adapter.digests == []  # items stay pending for the next tick (the ledger has no gap)
    finally:
        await second.stop()


async def test_changed_and_removed_subscriptions_are_synced(db: Database, make_runner: RunnerFactory) -> None:
    old = [subscription("a", schedule="30 8 * * mon-fri"), subscription("b", schedule="0 12 * * *")]
    first = DigestScheduler(runner=make_runner([], old, None), subscriptions=old, engine=db.engine)
    await first.start()
    await asyncio.sleep(0.1)
    await first.stop()
    new = [subscription("a", schedule="0 9 * * *")]
    second = DigestScheduler(runner=make_runner([], new, None), subscriptions=new, engine=db.engine)
    await second.start()
    try:
        runs = second.next_runs()
        assert set(runs) == {"a"}
        assert runs["a"] is not None and (runs["a"].hour, runs["a"].minute) == (9, 0)
        assert str(runs["a"].tzinfo) == "Asia/Tokyo"
    finally:
        await second.stop()


async def test_replicas_firing_the_same_tick_run_it_once(db: Database, make_runner: RunnerFactory) -> None:
    # Two replicas share the job table, so both schedulers fire each tick; the tick is claimed once.
    subs = [subscription("daily", schedule="0 3 * * *", post_when_empty=True)]
    runs: list[str] = []

    async def run(subscription_id: str) -> str:
        runs.append(subscription_id)
        return "posted"

    replicas = [
        DigestScheduler(
            runner=make_runner([], subs, RecordingAdapter()), subscriptions=subs, engine=db.engine, run=run
        )
        for _ in range(2)
    ]
    for replica in replicas:
        await replica.start()
    try:
        tick = datetime.now(TOKYO).replace(microsecond=0) - timedelta(seconds=30)
        for replica in replicas:  # what each scheduler's executor does when the tick is due
            job = replica.scheduler.get_job("digest:daily")
            replica.scheduler._lookup_executor("default").submit_job(job, [tick])
        await _wait_for(lambda: len(runs) >= 1)
        await asyncio.sleep(0.3)
        assert runs == ["daily"]
        # A later tick is a new claim.
        job = replicas[1].scheduler.get_job("digest:daily")
        replicas[1].scheduler._lookup_executor("default").submit_job(job, [tick + timedelta(seconds=10)])
        await _wait_for(lambda: len(runs) >= 2)
        assert runs == ["daily", "daily"]
    finally:
        for replica in replicas:
            await replica.stop()


def test_replicas_starting_at_once_on_a_fresh_database_both_start(db: Database) -> None:
    # APScheduler checks for its job table and then creates it; two replicas starting together
    # could both try to create it (PostgreSQL: "already exists"). Each round is a fresh table.
    from bot.digest.scheduler import _SharedEngineJobStore

    def start_together(stores: list[_SharedEngineJobStore]) -> list[BaseException]:
        barrier = threading.Barrier(len(stores))
        errors: list[BaseException] = []

        def start(store: _SharedEngineJobStore) -> None:
            barrier.wait()
            try:
                store.start(AsyncIOScheduler(), "default")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(store,)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        return errors

    for round_ in range(5):
        table = f"race_jobs_{round_}"
        replicas = [_SharedEngineJobStore(engine=db.engine, tablename=table) for _ in range(2)]
        assert start_together(replicas) == []
        assert inspect(db.engine).has_table(table)
