"""Pure digest composition: filter pending items, cap them, build the neutral ``Digest``.

Also the digest's idempotency marker (derived from its content, so an adapter can
recompute it from the ``Digest`` it posted) and a plain Japanese text rendering used
by ``kairan digest run --dry-run`` and the console.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.digest.feeds import date_key, japan_date
from bot.models import Digest, DigestItem

MARKER_PREFIX = "kairan-digest:"
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Candidate:
    """A pending item of one source, with its summary, as the runner hands it to ``compose``."""

    source_id: str
    item_id: str
    title: str
    url: str
    summary: str
    published: str  # ISO 8601 (date or datetime), "" when unknown
    category: str
    source_name: str  # shown to users (the feed id unless configured otherwise)
    seen_at: str  # when kairan first saw it (fixed-width UTC ISO), for oldest-first order

    @property
    def key(self) -> tuple[str, str]:
        return (self.source_id, self.item_id)


def document_key(url: str) -> str:
    """What makes two item URLs the same document for a channel: host (case-insensitive, default port
    dropped), path (percent-escapes in one case) and query; not the scheme (http/https) nor the
    fragment. Two feeds listing one notice give one key, so the channel is told once."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    path = _PERCENT.sub(lambda m: m.group(0).upper(), parts.path or "/")
    query = _PERCENT.sub(lambda m: m.group(0).upper(), parts.query)
    return f"//{host}{path}" + (f"?{query}" if query else "")


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def matches(candidate: Candidate, *, keywords: Sequence[str] = (), categories: Sequence[str] = ()) -> bool:
    """Keyword filter on title + summary (any keyword, NFKC, case-insensitive); category filter exact."""
    if categories and _norm(candidate.category) not in {_norm(c) for c in categories}:
        return False
    if keywords:
        haystack = _norm(f"{candidate.title}\n{candidate.summary}\n{candidate.category}")
        return any(_norm(k) in haystack for k in keywords if k.strip())
    return True


def matching(
    candidates: Iterable[Candidate], *, keywords: Sequence[str] = (), categories: Sequence[str] = ()
) -> list[Candidate]:
    """The candidates a subscription's filters let through, oldest first (the order digests take them);
    a document that several feeds list is taken once, as the feed that listed it first brought it."""
    passed = [c for c in candidates if matches(c, keywords=keywords, categories=categories)]
    passed.sort(key=lambda c: (c.seen_at, date_key(c.published), c.source_id, c.item_id))
    seen: set[str] = set()
    chosen = []
    for candidate in passed:
        key = document_key(candidate.url)
        if key not in seen:
            seen.add(key)
            chosen.append(candidate)
    return chosen


def select(
    candidates: Iterable[Candidate],
    *,
    keywords: Sequence[str] = (),
    categories: Sequence[str] = (),
    max_items: int = 10,
) -> list[Candidate]:
    """The items of the next digest: matching ones, oldest first, at most ``max_items``.

    Oldest first so that items beyond ``max_items`` are carried to the next digest
    instead of being starved by newer ones (no gaps).
    """
    if max_items < 1:
        raise ValueError(f"max_items must be >= 1, got {max_items}")
    return matching(candidates, keywords=keywords, categories=categories)[:max_items]


def to_digest(subscription: str, chosen: Sequence[Candidate]) -> Digest:
    """Build the ``Digest``; items appear newest published first (as people read news), each dated
    with its date in Japan (a feed's UTC time can be the previous day there)."""
    shown = sorted(
        chosen, key=lambda c: (japan_date(c.published), date_key(c.published), c.seen_at), reverse=True
    )
    return Digest(
        subscription=subscription,
        items=tuple(
            DigestItem(
                title=c.title,
                url=c.url,
                summary=c.summary,
                published=japan_date(c.published),
                source=c.source_name,
            )
            for c in shown
        ),
    )


def compose(
    subscription: str,
    candidates: Iterable[Candidate],
    *,
    keywords: Sequence[str] = (),
    categories: Sequence[str] = (),
    max_items: int = 10,
) -> tuple[Digest, list[Candidate]]:
    """``select`` then ``to_digest``: the digest and the candidates it contains."""
    chosen = select(candidates, keywords=keywords, categories=categories, max_items=max_items)
    return to_digest(subscription, chosen), chosen


def digest_marker(digest: Digest) -> str:
    """A stable idempotency marker for a digest: same subscription and item URLs → same marker.

    Adapters that can look up what they posted (``was_posted``) or that honour an
    idempotency key compute this from the ``Digest`` they were given.
    """
    h = hashlib.sha256(digest.subscription.encode())
    for url in sorted(item.url for item in digest.items):
        h.update(b"\x00" + url.encode())
    return MARKER_PREFIX + h.hexdigest()[:24]


def render_text(digest: Digest, *, waiting: int = 0) -> str:
    """Plain Japanese text of a digest (LoGo-style; also the dry-run preview, which says how many
    matching items would wait for a later digest)."""
    note = ""
    if waiting:
        note = f"\n\nほか{waiting}件は次回以降の配信に回ります / {waiting} more wait for the next digest"
    if not digest.items:
        return f"【新着通知】{digest.subscription}: 新着はありません。{note}"
    lines = [f"【新着通知】{digest.subscription}（{len(digest.items)}件）"]
    for n, item in enumerate(digest.items, 1):
        dated = f"{item.published} " if item.published else ""
        lines.append("")
        lines.append(f"{n}. {item.title}")
        lines.append(f"   {dated}{item.source}")
        if item.summary:
            lines.append(f"   {item.summary}")
        lines.append(f"   {item.url}")
    return "\n".join(lines) + note
