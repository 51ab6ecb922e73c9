"""Verifying a hash chain: its records, its key, and the anchors kept outside the database."""

from __future__ import annotations

from collections.abc import Iterable

from bot.state.anchor import Anchor, anchor_problems
from bot.state.chain import KEY_ID_META, Chain, VerifyReport, diagnose, key_problems, merge


def verify_chain(chain: Chain, anchors: Iterable[Anchor]) -> VerifyReport:
    with chain.db.read() as conn:
        head = chain.head(conn)
        links, matches_at = chain.links(conn)
    unkeyed = sum(1 for link in links if link.scheme == "plain")
    if not chain.key.keyed and chain.db.meta_value(KEY_ID_META) is not None:
        # Keyed records cannot be told from edited ones without the key.
        return VerifyReport(records=len(links), unkeyed=unkeyed, needs_key=True)
    problems = merge(
        diagnose(links, head, matches_at),
        key_problems(links, chain.key),
        anchor_problems(chain.spec.name, anchors, links, chain.key),
    )
    return VerifyReport(records=len(links), problems=problems, unkeyed=unkeyed)
