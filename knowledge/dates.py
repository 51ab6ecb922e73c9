"""Calendar dates as kairan stores them: ISO ``YYYY-MM-DD``, and only days that exist."""

from __future__ import annotations

from datetime import date


def iso_date(year: int, month: int, day: int) -> str:
    """``YYYY-MM-DD``, or "" when there is no such day (2025-13-45, 令和7年2月30日)."""
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return ""


def checked_iso_date(text: str) -> str:
    """``text`` when it is a real ``YYYY-MM-DD`` day, else ""."""
    try:
        return date.fromisoformat(text).isoformat() if len(text) == 10 else ""
    except ValueError:
        return ""
