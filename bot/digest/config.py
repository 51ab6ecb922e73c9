"""Digest sources and subscriptions as plain values, built from the manifest in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.digest.sites import SitePolicy
from bot.models import ConversationRef
from manifest.schema import Manifest

SourceKind = Literal["rss", "atom", "rdf", "index_page", "egov_revisions"]


@dataclass(frozen=True)
class FeedSource:
    id: str
    kind: SourceKind
    url: str
    collection: str
    category: str = ""  # for items that carry no category of their own
    encoding: str | None = None
    law_ids: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # item links may also point here ("host" or "host:port")
    internal_hosts: tuple[str, ...] = ()  # hosts allowed on internal addresses (an on-premises mirror)

    def site_policy(self) -> SitePolicy:
        """Where this feed's fetches may go (its own site, allowed_hosts, internal_hosts)."""
        return SitePolicy.for_feed(self.url, self.allowed_hosts, self.internal_hosts)


@dataclass(frozen=True)
class Subscription:
    id: str
    ref: ConversationRef  # where the digest is posted
    schedule: str  # 5-field cron, Asia/Tokyo
    sources: tuple[str, ...]  # feed ids; empty = every feed
    keywords: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    max_items: int = 10
    post_when_empty: bool = False
    answered_inquiries: bool = False  # also the tenant's 照会 answered this week (bot.inquiry.digest)

    def source_ids(self, feeds: tuple[FeedSource, ...] | list[FeedSource]) -> tuple[str, ...]:
        return self.sources or tuple(f.id for f in feeds)


def from_manifest(manifest: Manifest) -> tuple[list[FeedSource], list[Subscription]]:
    feeds = [
        FeedSource(
            id=f.id,
            kind=f.kind,
            url=f.url,
            collection=f.collection,
            category=f.category or "",
            encoding=f.encoding,
            law_ids=tuple(f.law_ids),
            allowed_hosts=tuple(f.allowed_hosts),
            internal_hosts=tuple(f.internal_hosts),
        )
        for f in manifest.feeds
    ]
    subs = [
        Subscription(
            id=d.id,
            ref=ConversationRef(platform=channel.platform, tenant=tenant.id, channel=channel.id),
            schedule=d.schedule,
            sources=tuple(d.sources),
            keywords=tuple(d.keywords),
            categories=tuple(d.categories),
            max_items=d.max_items,
            post_when_empty=d.post_when_empty,
            answered_inquiries=d.answered_inquiries,
        )
        for tenant in manifest.tenants
        for channel in tenant.channels
        for d in channel.digests
    ]
    return feeds, subs
