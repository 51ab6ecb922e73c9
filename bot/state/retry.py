"""When stored work that failed is tried again: the same rule for every queue in the state database."""

from __future__ import annotations

from datetime import timedelta


def retry_delay(attempts: int, *, base: timedelta, cap: timedelta) -> timedelta:
    """``base`` after the first attempt, doubling with each further one, never more than ``cap``."""
    return min(cap, base * 2 ** max(0, attempts - 1))
