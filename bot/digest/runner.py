"""Poll sources, ingest and summarise new documents, send each subscription its digest exactly once.

Exactly-once design
-------------------
The ledger (``bot.digest.ledger``) holds one row per (subscription, source, item),
unique. A run writes all rows of its digest as ``intent`` in one transaction *before*
``adapter.send`` and flips them to ``posted`` after it returns. Items with a row are
never pending again, so a later run cannot repeat them; items without one stay
pending (oldest first), so nothing is skipped.

A crash between ``send`` and ``posted`` leaves ``intent`` rows. ``reconcile()`` (run on
start, before the scheduler fires) resolves each interrupted send:

1. The adapter can tell (``bot.ports.ChecksDigests``: ``async def was_posted(ref, marker) -> bool``, with
   ``marker = compose.digest_marker(digest)`` recomputable from the Digest it posted):
   posted → mark ``posted``; not posted → release the rows, so the items go out with
   the next digest.
2. The adapter honours the marker as an idempotency key (``bot.ports.DedupesDigests``:
   ``honours_digest_marker = True``, it drops a digest whose marker it has posted):
   the identical digest is sent again and the rows are marked ``posted``.
3. Neither: the post cannot be checked, and a duplicate is the worse failure in a
   channel people act on, so the rows are marked ``posted`` (at most once) and an
   error names the items so an admin can re-post them (``kairan digest run``).

``send`` raising an ordinary exception means the post most likely did not happen: the
adapter is asked when it can tell, otherwise the rows are released (items retried with
the next digest). Only a process death (or a ``BaseException`` such as cancellation)
leaves rows for ``reconcile``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bot.digest.compose import Candidate, compose, digest_marker, matching, to_digest
from bot.digest.config import FeedSource, Subscription
from bot.digest.feeds import JST, FeedError, FeedItem, parse_feed, parse_index_page
from bot.digest.fetch import Fetcher, FetchError
from bot.digest.ledger import AlreadyRecorded, DigestLedger, IntentRun, StoredItem
from bot.digest.summarise import Summariser, opening_sentences
from bot.inquiry.digest import SOURCE_NAME as INQUIRY_SOURCE_NAME
from bot.inquiry.digest import record_answered
from bot.inquiry.store import InquiryStore
from bot.models import ConversationRef, Digest
from bot.ports import Adapter, ChecksDigests, DedupesDigests, LimitsDigestItems
from bot.state.db import Database, HeldLock, utc_now
from knowledge.documents import EGOV_LAW_URL, ParseError
from knowledge.egov_client import EgovClient, EgovError, RevisionInfo
from knowledge.identity import Provenance
from knowledge.ingest import Ingestor, SourceItem, parse_item
from knowledge.limits import DEFAULT_LIMITS, Budget

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
EgovFactory = Callable[[str], EgovClient]
_FEED_KINDS = {"rss", "atom", "rdf"}
_LOCK_POLL_S = 0.2
DOCUMENTS_BUDGET_S = 120.0
COMPOSE_ATTEMPTS = 3  # a digest composed again when other digests of its channel took its documents first


class UnknownSubscription(KeyError):
    def __str__(self) -> str:
        return f"no digest subscription {self.args[0]!r} in the manifest"


@dataclass(frozen=True)
class SourcePoll:
    source_id: str
    new_items: int = 0
    baseline: bool = False  # first poll: the items listed now are recorded, not announced
    not_modified: bool = False
    error: str | None = None


@dataclass(frozen=True)
class RunResult:
    subscription: str
    status: str  # posted | empty_posted | nothing_new | dry_run | send_failed | no_adapter | busy
    digest: Digest
    posted: int = 0
    polls: tuple[SourcePoll, ...] = ()
    waiting: int = 0  # matching items beyond this digest: they go out with the next ones


@dataclass
class ReconcileResult:
    confirmed: list[str] = field(default_factory=list)  # run ids found posted
    released: list[str] = field(default_factory=list)  # found not posted: items pending again
    resent: list[str] = field(default_factory=list)  # re-sent under the same idempotency marker
    assumed: list[str] = field(default_factory=list)  # could not check: marked posted (at most once)


@dataclass(frozen=True)
class SubscriptionStatus:
    subscription: Subscription
    last_run_at: str | None
    last_status: str | None
    last_posted: int | None
    pending: int  # ready items that the next digest would consider (after filters)
    in_doubt: int  # intent rows awaiting reconcile


def _egov_client(base_url: str) -> EgovClient:
    return EgovClient(base_url=base_url)


class DigestRunner:
    def __init__(
        self,
        *,
        db: Database,
        feeds: Sequence[FeedSource],
        subscriptions: Sequence[Subscription],
        adapters: Mapping[str, Adapter],
        fetcher: Fetcher,
        summariser: Summariser,
        ingestor: Ingestor | None = None,
        egov: EgovFactory = _egov_client,
        clock: Clock = utc_now,
        announce_existing: bool = False,
        documents_budget_s: float = DOCUMENTS_BUDGET_S,
        items_per_post: Mapping[str, int] | None = None,
    ) -> None:
        self.ledger = DigestLedger(db)
        self.inquiries = InquiryStore(db)  # answered 照会 for the subscriptions that include them
        self.feeds = {f.id: f for f in feeds}
        self.subscriptions = {s.id: s for s in subscriptions}
        self.adapters = adapters
        self.fetcher = fetcher
        self.summariser = summariser
        self.ingestor = ingestor
        self._egov_factory = egov
        self._egov: dict[str, EgovClient] = {}
        self.clock = clock
        self.announce_existing = announce_existing
        self.documents_budget_s = documents_budget_s  # per source and poll: the rest wait for the next poll
        # Per platform, the items one post shows when its adapter is not running here (a dry run).
        self.items_per_post = dict(items_per_post or {})
        self._source_locks: dict[str, asyncio.Lock] = {}
        self._sub_locks: dict[str, asyncio.Lock] = {}
        for sub in subscriptions:
            unknown = [s for s in sub.sources if s not in self.feeds]
            if unknown:
                raise ValueError(f"subscription {sub.id!r} names unknown feeds {unknown}")

    async def aclose(self) -> None:
        for client in self._egov.values():
            await client.close()
        self._egov.clear()

    def subscription(self, subscription_id: str) -> Subscription:
        try:
            return self.subscriptions[subscription_id]
        except KeyError:
            raise UnknownSubscription(subscription_id) from None

    # ================================================================ polling

    async def poll(self, source_ids: Iterable[str] | None = None) -> list[SourcePoll]:
        """Poll sources concurrently; a failing source is logged once and skipped."""
        ids = list(source_ids) if source_ids is not None else list(self.feeds)
        return list(await asyncio.gather(*(self.poll_source(self.feeds[i]) for i in ids)))

    async def poll_source(self, feed: FeedSource) -> SourcePoll:
        lock = self._source_locks.setdefault(feed.id, asyncio.Lock())
        async with lock, self._exclusive_source(feed.id):
            state = await asyncio.to_thread(self.ledger.source_state, feed.id)
            baseline = (state is None or state.ok_at is None) and not self.announce_existing
            now = self.clock()
            try:
                if feed.kind == "egov_revisions":
                    items, validators = await self._egov_items(feed, state.cursor if state else None)
                    not_modified = False
                else:
                    items, validators, not_modified = await self._feed_items(feed, state)
            except (FetchError, FeedError, EgovError) as exc:
                log.error("digest source %s (%s) skipped: %s", feed.id, feed.url, exc)
                await asyncio.to_thread(
                    self.ledger.save_source_state, feed.id, now=now, ok=False, error=str(exc)
                )
                return SourcePoll(feed.id, error=str(exc))
            fresh = await asyncio.to_thread(
                self.ledger.record_items, feed.id, items, baseline=baseline, now=now
            )
            await asyncio.to_thread(self.ledger.save_source_state, feed.id, now=now, ok=True, **validators)
            await self._process_new(feed)
            return SourcePoll(
                feed.id, new_items=0 if baseline else len(fresh), baseline=baseline, not_modified=not_modified
            )

    @asynccontextmanager
    async def _exclusive_source(self, source_id: str) -> AsyncIterator[None]:
        """Hold the source's cross-replica lock: one replica at a time polls a source and ingests its
        new documents; the next one then finds them recorded (no second fetch, ingest or summary)."""
        held = await self._try_lock_source(source_id)
        while held is None:
            await asyncio.sleep(_LOCK_POLL_S)
            held = await self._try_lock_source(source_id)
        try:
            yield
        finally:
            await asyncio.shield(asyncio.to_thread(held.release))

    async def _try_lock_source(self, source_id: str) -> HeldLock | None:
        attempt = asyncio.ensure_future(asyncio.to_thread(self.ledger.try_lock_source, source_id))
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:  # the thread may still get the lock: give it back then
            attempt.add_done_callback(_release_if_held)
            raise

    async def _feed_items(self, feed: FeedSource, state: Any) -> tuple[list[FeedItem], dict[str, Any], bool]:
        etag = state.etag if state else None
        last_modified = state.last_modified if state else None
        result = await self.fetcher.fetch(
            feed.url, policy=feed.site_policy(), etag=etag, last_modified=last_modified
        )
        if result.not_modified:
            return (
                [],
                {"etag": result.etag or etag, "last_modified": result.last_modified or last_modified},
                True,
            )
        if feed.kind in _FEED_KINDS:
            items = parse_feed(
                result.body, source=feed.url, encoding=feed.encoding, content_type=result.content_type
            )
        else:
            items = parse_index_page(
                result.body, source=feed.url, encoding=feed.encoding, content_type=result.content_type
            )
        if feed.category:
            items = [
                i if i.category else FeedItem(i.id, i.title, i.url, i.published, feed.category, i.summary)
                for i in items
            ]
        return items, {"etag": result.etag, "last_modified": result.last_modified}, False

    def _egov_for(self, feed: FeedSource) -> EgovClient:
        if feed.url not in self._egov:
            self._egov[feed.url] = self._egov_factory(feed.url)
        return self._egov[feed.url]

    async def _egov_items(
        self, feed: FeedSource, cursor: str | None
    ) -> tuple[list[FeedItem], dict[str, Any]]:
        """Revisions of the watched laws updated since the last poll (e-Gov ``updated_from``)."""
        client = self._egov_for(feed)
        today = self.clock().astimezone(JST).date()
        items: list[FeedItem] = []
        for law_id in feed.law_ids:
            for rev in await client.fetch_law_revisions(law_id, updated_from=cursor):
                items.append(_revision_item(law_id, rev, feed.category))
        # The next poll asks from yesterday on: revisions updated late today are seen again, and
        # the (source, item) key drops the ones already recorded.
        return items, {"cursor": (today - timedelta(days=1)).isoformat()}

    async def _process_new(self, feed: FeedSource) -> None:
        """Fetch, parse, ingest and summarise every unprocessed item, then make it announceable."""
        todo = await asyncio.to_thread(self.ledger.unprocessed, feed.id)
        if not todo:
            return
        prepared: list[tuple[StoredItem, str, str, str | None]] = []  # item, summary, doc_id, error
        to_ingest: list[SourceItem] = []
        law_collections = self.ingestor.law_collections if self.ingestor else (feed.collection,)
        limits = self.ingestor.limits if self.ingestor else DEFAULT_LIMITS
        deadline = time.monotonic() + self.documents_budget_s
        for done, stored in enumerate(todo):
            if time.monotonic() > deadline:  # slow or endless documents: the rest wait for the next poll
                log.warning(
                    "digest %s: %d documents left for the next poll (%g s of fetching per poll used)",
                    feed.id, len(todo) - done, self.documents_budget_s,
                )
                break
            try:
                data, source = await self._document(feed, stored.item)
                # Parsed by where it came from: e-Gov brings statutes, a feed brings notices.
                provenance = Provenance.EGOV if feed.kind == "egov_revisions" else Provenance.FEED
                item = SourceItem(source=source, collection=feed.collection, data=data, provenance=provenance)
                budget = Budget(source, limits)
                doc = await asyncio.to_thread(parse_item, item, data, law_collections, budget)
            except (FetchError, ParseError, EgovError) as exc:
                log.warning("digest %s: document of %r not ingested: %s", feed.id, stored.item.title, exc)
                # The feed's own description, in whole sentences (a CMS may cut it off mid-sentence).
                described = stored.item.summary if feed.kind == "egov_revisions" else None
                prepared.append((stored, described or opening_sentences(stored.item.summary), "", str(exc)))
                continue
            to_ingest.append(item)
            if feed.kind == "egov_revisions":
                summary = stored.item.summary
            else:
                summary = (
                    await self.summariser.summarise(doc, title=stored.item.title, url=stored.item.url)
                ).text
            prepared.append((stored, summary or opening_sentences(stored.item.summary), doc.doc_id, None))
        if to_ingest and self.ingestor is not None:
            report = await asyncio.to_thread(self.ingestor.ingest, to_ingest)
            for source, message in report.errors:
                log.warning("digest %s: ingest of %s failed: %s", feed.id, source, message)
        for stored, summary, doc_id, error in prepared:
            await asyncio.to_thread(
                self.ledger.mark_ready, feed.id, stored.item.id, summary=summary, doc_id=doc_id, error=error
            )

    async def _document(self, feed: FeedSource, item: FeedItem) -> tuple[bytes, str]:
        if feed.kind == "egov_revisions":
            fetched = await self._egov_for(feed).fetch_law_data(item.id)
            return fetched.raw, f"e-Gov:{item.id}"
        result = await self.fetcher.fetch(item.url, policy=feed.site_policy())
        return result.body, item.url

    # ================================================================ running a subscription

    def _names(self) -> dict[str, str]:
        return {f.id: f.id for f in self.feeds.values()}

    async def run(self, subscription_id: str, *, dry_run: bool = False, poll: bool = True) -> RunResult:
        """Poll the subscription's sources, compose its digest and send it (unless ``dry_run``)."""
        sub = self.subscription(subscription_id)
        lock = self._sub_locks.setdefault(sub.id, asyncio.Lock())
        async with lock:
            source_ids = sub.source_ids(list(self.feeds.values()))
            since = await asyncio.to_thread(self.ledger.ensure_subscription, sub.id, now=self.clock())
            polls = tuple(await self.poll(source_ids)) if poll else ()
            names = self._names()
            if sub.answered_inquiries:  # the tenant's 照会 answered this week, as a source of their own
                source = await asyncio.to_thread(
                    record_answered, self.ledger, self.inquiries, sub.ref.tenant, now=self.clock()
                )
                source_ids, names = (*source_ids, source), {**names, source: INQUIRY_SOURCE_NAME}
            for attempt in range(1, COMPOSE_ATTEMPTS + 1):
                pending = await asyncio.to_thread(
                    self.ledger.pending, sub.id, source_ids, since=since, names=names,
                    channel_subs=self._channel_subs(sub),
                )  # fmt: skip
                filters = {"keywords": sub.keywords, "categories": sub.categories}
                digest, chosen = compose(sub.id, pending, **filters, max_items=self._limit(sub))
                waiting = len(matching(pending, **filters)) - len(chosen)
                if dry_run:
                    return RunResult(sub.id, "dry_run", digest, polls=polls, waiting=waiting)
                result = await self._deliver(sub, digest, chosen, polls)
                # busy: another digest of the channel claimed some of these documents since they were
                # composed (another replica, or a digest at the same minute); the rest go out now.
                if result.status != "busy" or attempt == COMPOSE_ATTEMPTS:
                    return replace(result, waiting=waiting)
                log.info("digest %s: composing again without the documents claimed meanwhile", sub.id)
            raise AssertionError("unreachable")

    def _channel_subs(self, sub: Subscription) -> tuple[str, ...]:
        """The subscriptions posting to ``sub``'s channel (``sub`` included): it gets each document once."""
        return tuple(s.id for s in self.subscriptions.values() if _channel(s.ref) == _channel(sub.ref))

    def _limit(self, sub: Subscription) -> int:
        """Items per digest: the subscription's maximum, or fewer if the platform shows fewer in one post
        (the rest wait for the next digest; an item is never marked posted without being shown).
        Without its adapter (a dry run) the platform's known limit applies, so the preview is the post."""
        adapter = self.adapters.get(sub.ref.platform)
        if isinstance(adapter, LimitsDigestItems):
            return min(sub.max_items, adapter.max_digest_items)
        return min(sub.max_items, self.items_per_post.get(sub.ref.platform) or sub.max_items)

    async def _deliver(
        self, sub: Subscription, digest: Digest, chosen: list[Candidate], polls: tuple[SourcePoll, ...]
    ) -> RunResult:
        now = self.clock()
        adapter = self.adapters.get(sub.ref.platform)
        if adapter is None:
            log.error("digest %s: no %s adapter is running; nothing sent", sub.id, sub.ref.platform)
            await asyncio.to_thread(
                self.ledger.record_run,
                sub.id,
                now=now,
                status="no_adapter",
                posted=0,
                error=f"no {sub.ref.platform} adapter",
            )
            return RunResult(sub.id, "no_adapter", digest, polls=polls)
        if not chosen:
            status = "nothing_new"
            if sub.post_when_empty:
                try:
                    await adapter.send(sub.ref, digest)
                    status = "empty_posted"
                except Exception:
                    log.exception("digest %s: posting the empty digest failed", sub.id)
                    status = "send_failed"
            await asyncio.to_thread(self.ledger.record_run, sub.id, now=now, status=status, posted=0)
            return RunResult(sub.id, status, digest, polls=polls)

        run_id = str(uuid.uuid4())
        marker = digest_marker(digest)
        try:
            await asyncio.to_thread(
                self.ledger.record_intent, sub.id, chosen, run_id=run_id, marker=marker, now=now,
                channel=_channel(sub.ref), channel_subs=self._channel_subs(sub),
            )  # fmt: skip
        except AlreadyRecorded:
            log.warning("digest %s: another run claimed some of these items first; not sent", sub.id)
            return RunResult(sub.id, "busy", digest, polls=polls)
        try:
            await adapter.send(sub.ref, digest)
        except Exception as exc:
            # One line (the adapter's retries are spent); the traceback only when debugging.
            log.error(
                "digest %s: sending %d item(s) to %s:%s failed: %s: %s",
                sub.id, len(chosen), sub.ref.platform, sub.ref.channel, type(exc).__name__, exc,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )  # fmt: skip
            # Cannot tell (None): most likely not posted, so the items go out with the next digest.
            posted = bool(await self._was_posted(adapter, sub.ref, marker, quiet=True))
            if posted:
                await asyncio.to_thread(self.ledger.mark_posted, sub.id, run_id, now=self.clock())
            else:
                await asyncio.to_thread(self.ledger.release, sub.id, run_id)
            await asyncio.to_thread(
                self.ledger.record_run,
                sub.id,
                now=now,
                status="posted" if posted else "send_failed",
                posted=len(chosen) if posted else 0,
                error=f"{type(exc).__name__}: {exc}",
            )
            return RunResult(
                sub.id, "posted" if posted else "send_failed", digest, len(chosen) if posted else 0, polls
            )
        await asyncio.to_thread(self.ledger.mark_posted, sub.id, run_id, now=self.clock())
        await asyncio.to_thread(self.ledger.record_run, sub.id, now=now, status="posted", posted=len(chosen))
        return RunResult(sub.id, "posted", digest, len(chosen), polls)

    @staticmethod
    async def _was_posted(
        adapter: Adapter, ref: ConversationRef, marker: str, *, quiet: bool = False
    ) -> bool | None:
        """The adapter's answer, or None when it has no ``was_posted`` or could not be asked."""
        if not isinstance(adapter, ChecksDigests):
            return None
        try:
            return bool(await adapter.was_posted(ref, marker))
        except Exception as exc:
            log.log(
                logging.INFO if quiet else logging.WARNING,
                "could not ask the %s adapter whether digest %s was posted: %s: %s",
                ref.platform, marker, type(exc).__name__, exc,
            )  # fmt: skip
            return None

    # ================================================================ reconcile

    async def reconcile(self) -> ReconcileResult:
        """Resolve sends interrupted between intent and posted (see the module docstring)."""
        result = ReconcileResult()
        for run in await asyncio.to_thread(self.ledger.intents, self._names()):
            await self._reconcile_run(run, result)
        return result

    async def _reconcile_run(self, run: IntentRun, result: ReconcileResult) -> None:
        sub = self.subscriptions.get(run.subscription)
        if sub is None:
            log.warning(
                "digest ledger: subscription %s is gone; its unsent run %s is dropped",
                run.subscription,
                run.run_id,
            )
            await asyncio.to_thread(self.ledger.release, run.subscription, run.run_id)
            result.released.append(run.run_id)
            return
        adapter = self.adapters.get(sub.ref.platform)
        if adapter is None:
            log.warning(
                "digest %s: run %s stays in doubt until a %s adapter runs",
                sub.id,
                run.run_id,
                sub.ref.platform,
            )
            return
        now = self.clock()
        if isinstance(adapter, ChecksDigests):
            posted = await self._was_posted(adapter, sub.ref, run.marker, quiet=True)
            if posted is None:  # the platform could not be asked now: neither lose nor repeat
                log.warning(
                    "digest %s: could not check whether run %s was posted; it stays in doubt until "
                    "the next reconcile", sub.id, run.run_id,
                )  # fmt: skip
            elif posted:
                await asyncio.to_thread(self.ledger.mark_posted, sub.id, run.run_id, now=now)
                result.confirmed.append(run.run_id)
                log.warning(
                    "digest %s: run %s was interrupted after %s had the post; recorded as posted",
                    sub.id, run.run_id, sub.ref.platform,
                )  # fmt: skip
            else:
                await asyncio.to_thread(self.ledger.release, sub.id, run.run_id)
                result.released.append(run.run_id)
                log.warning(
                    "digest %s: run %s was interrupted before %s had the post; its items go out again",
                    sub.id, run.run_id, sub.ref.platform,
                )  # fmt: skip
            return
        if isinstance(adapter, DedupesDigests) and adapter.honours_digest_marker:
            digest = to_digest(sub.id, run.candidates)
            if digest_marker(digest) == run.marker:
                try:
                    await adapter.send(sub.ref, digest)
                except Exception:
                    log.exception("digest %s: re-sending run %s failed; left in doubt", sub.id, run.run_id)
                    return
                await asyncio.to_thread(self.ledger.mark_posted, sub.id, run.run_id, now=now)
                result.resent.append(run.run_id)
                return
        titles = "; ".join(c.title for c in run.candidates)
        log.error(
            "digest %s: run %s may or may not have been posted (the %s adapter cannot tell); "
            "marked posted to avoid a duplicate. Items: %s",
            sub.id,
            run.run_id,
            sub.ref.platform,
            titles,
        )
        await asyncio.to_thread(self.ledger.mark_posted, sub.id, run.run_id, now=now)
        result.assumed.append(run.run_id)

    # ================================================================ status

    def status(self) -> list[SubscriptionStatus]:
        in_doubt: dict[str, int] = {}
        for run in self.ledger.intents():
            in_doubt[run.subscription] = in_doubt.get(run.subscription, 0) + len(run.candidates)
        out = []
        for sub in self.subscriptions.values():
            record = self.ledger.run_record(sub.id)
            pending = 0
            if record is not None:
                candidates = self.ledger.pending(
                    sub.id, sub.source_ids(list(self.feeds.values())), since=record.created_at,
                    channel_subs=self._channel_subs(sub),
                )  # fmt: skip
                pending = len(matching(candidates, keywords=sub.keywords, categories=sub.categories))
            out.append(
                SubscriptionStatus(
                    subscription=sub,
                    last_run_at=record.last_run_at if record else None,
                    last_status=record.last_status if record else None,
                    last_posted=record.last_posted if record else None,
                    pending=pending,
                    in_doubt=in_doubt.get(sub.id, 0),
                )
            )
        return out


def _channel(ref: ConversationRef) -> str:
    """A channel's identity for "once per channel" (the manifest maps a channel to one tenant)."""
    return f"{ref.platform}:{ref.channel}" + (f":{ref.thread}" if ref.thread else "")


def _release_if_held(attempt: asyncio.Future[HeldLock | None]) -> None:
    if not attempt.cancelled() and attempt.exception() is None and (held := attempt.result()) is not None:
        held.release()


def _revision_item(law_id: str, rev: RevisionInfo, category: str) -> FeedItem:
    """An e-Gov revision as a feed item; its summary says which law amended it and when it applies."""
    amending = rev.amendment_law_title or ""
    if rev.amendment_law_num:
        amending += f"（{rev.amendment_law_num}）"
    parts = [f"{amending}による改正。" if amending else "改正。"]
    enforce = rev.amendment_enforcement_date or rev.amendment_scheduled_enforcement_date
    if enforce:
        parts.append(f"施行日: {enforce}。")
    published = rev.amendment_promulgate_date or (rev.updated or "")[:10] or enforce or ""
    return FeedItem(
        id=rev.law_revision_id,
        title=f"{rev.law_title} の改正",
        url=EGOV_LAW_URL.format(law_id=law_id),
        published=published,
        category=category or rev.category or "",
        summary="".join(parts),
    )
