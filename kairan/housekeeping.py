"""Periodic pruning of the processed-event ledger, the outbox and thread turns while ``kairan serve`` runs.

Platforms redeliver an event within minutes to hours, and a digest tick is claimed at its fire
time, so claims older than ``KEEP`` are never consulted again; without pruning the table grows
by one row per chat event for as long as the bot runs. Outbox entries that were posted or given
up are dropped after the same time. Thread turns (the redacted conversation a follow-up question
sees) are kept for the manifest's ``state.thread_retention_days`` (30 by default; null: forever).
照会 offers (the draft behind every answer's 「照会する」) are dropped after the same ``KEEP``; the
inquiries sent are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.inquiry.store import InquiryStore
from bot.state.db import Database, utc_now
from bot.state.events import EventLedger
from bot.state.outbox import Outbox
from bot.state.threads import ThreadStore
from manifest.schema import Manifest

log = logging.getLogger(__name__)

KEEP = timedelta(days=14)
EVERY_S = 3600.0


def thread_retention(manifest: Manifest) -> timedelta | None:
    """How long thread turns are kept (None: forever)."""
    days = manifest.state.thread_retention_days
    return None if days is None else timedelta(days=days)


async def prune_events(
    db: Database,
    stop: asyncio.Event,
    *,
    keep: timedelta = KEEP,
    every_s: float = EVERY_S,
    clock: Callable[[], datetime] = utc_now,
    threads_keep: timedelta | None = None,
) -> None:
    """Drop claims older than ``keep`` (and thread turns older than ``threads_keep``, when given)
    now and every ``every_s`` seconds until ``stop`` is set."""
    ledger, outbox, threads, offers = EventLedger(db), Outbox(db), ThreadStore(db), InquiryStore(db)
    while not stop.is_set():
        try:
            dropped = await asyncio.to_thread(ledger.forget_before, clock() - keep)
            if dropped:
                log.info("pruned %d processed-event claims older than %d days", dropped, keep.days)
            finished = await asyncio.to_thread(outbox.forget_finished_before, clock() - keep)
            if finished:
                log.info("pruned %d finished outbox entries older than %d days", finished, keep.days)
            stale = await asyncio.to_thread(offers.forget_offers_before, clock() - keep)
            if stale:
                log.info("pruned %d 照会 offers older than %d days", stale, keep.days)
            if threads_keep is not None:
                turns = await asyncio.to_thread(threads.forget_before, clock() - threads_keep)
                if turns:
                    log.info("pruned %d thread turns older than %d days", turns, threads_keep.days)
        except Exception as exc:  # the state DB may be briefly unreachable: try again next round
            log.warning("pruning processed-event claims and the outbox failed: %s", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)
