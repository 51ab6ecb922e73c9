"""Answered 照会 in the digest: "answered this week" for subscriptions that ask for it.

A subscription with ``answered_inquiries: true`` gets its tenant's inquiries that were answered in the
last ``WINDOW`` as items of a source of their own (``inquiries-<tenant>``), recorded in the digest's
item table like a feed's: the digest ledger then posts each one once in that channel, with the rest
of the digest (a weekly digest: the inquiries answered this week). An answer withdrawn before the
digest is not announced.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.digest.feeds import FeedItem
from bot.digest.ledger import DigestLedger
from bot.inquiry.listing import excerpt
from bot.inquiry.store import InquiryStore
from bot.inquiry.text import JST

WINDOW = timedelta(days=7)
SOURCE_NAME = "照会回答"  # how the digest names the source of these items
CATEGORY = "照会回答"


def inquiry_source(tenant: str) -> str:
    return f"inquiries-{tenant}"


def record_answered(ledger: DigestLedger, store: InquiryStore, tenant: str, *, now: datetime) -> str:
    """Record the tenant's inquiries answered within ``WINDOW`` as digest items (once each); returns
    the source id to include in the subscription's digest."""
    source = inquiry_source(tenant)
    answered = store.answered_between(now - WINDOW, now, tenant=tenant)
    items = [
        FeedItem(
            id=str(inquiry.id),
            title=f"{inquiry.number} {excerpt(inquiry.question, 60)}",
            url=inquiry.answer_link or inquiry.dest_link or "",
            published=(inquiry.answered_at or now).astimezone(JST).date().isoformat(),
            category=CATEGORY,
            summary=excerpt(inquiry.answer or "", 200),
        )
        for inquiry in answered
    ]
    for item in ledger.record_items(source, items, baseline=False, now=now):
        ledger.mark_ready(source, item.id, summary=item.summary)
    return source
