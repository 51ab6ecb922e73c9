"""Thread memory: earlier turns of a conversation thread, bounded for the prompt.

Only redacted text is stored: ``append`` masks personal data itself (``bot.redaction``), whatever the
caller already did. How long turns are kept is the manifest's ``state.thread_retention_days``
(``forget_before``, run by the serve housekeeping).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, bindparam, delete, insert, select

from bot.redaction import RedactionPolicy, redact_for_storage
from bot.state.db import Database, iso_utc, utc_now
from bot.state.tables import thread_turns

Role = Literal["user", "assistant"]
_ROLES = ("user", "assistant")
# Built once; values are bound per call.
_INSERT = insert(thread_turns)
_RECENT = (
    select(thread_turns.c.role, thread_turns.c.text)
    .where(thread_turns.c.thread_key == bindparam("key"))
    .order_by(thread_turns.c.id.desc())
    .limit(bindparam("n"))
)


@dataclass(frozen=True)
class ChatTurn:
    role: Role
    text: str


class ThreadStore:
    def __init__(self, db: Database, *, redaction: RedactionPolicy | None = None) -> None:
        self.db = db
        self.redaction = redaction  # None: every kind of personal data is masked before storing

    def append(
        self,
        thread_key: str,
        role: Role,
        text: str,
        *,
        time: datetime | None = None,
        conn: Connection | None = None,
    ) -> None:
        if role not in _ROLES:
            raise ValueError(f"role must be one of {_ROLES}, got {role!r}")
        if not thread_key:
            raise ValueError("thread_key must not be empty")
        with self.db.write_in(conn) as conn:
            turn = {
                "thread_key": thread_key, "time": iso_utc(time or utc_now()), "role": role,
                "text": redact_for_storage(text, self.redaction),
            }
            conn.execute(_INSERT, turn)

    def recent(self, thread_key: str, max_turns: int = 6, max_chars: int = 4000) -> list[ChatTurn]:
        """The latest turns, oldest first: at most ``max_turns`` and ``max_chars`` characters in all.

        Turns are taken newest first until the next one would exceed ``max_chars``; when even the
        newest is longer, its last ``max_chars`` characters are kept (prefixed with …).
        """
        if max_turns <= 0 or max_chars <= 0:
            return []
        with self.db.read() as conn:
            rows = conn.execute(_RECENT, {"key": thread_key, "n": max_turns}).all()
        taken: list[ChatTurn] = []
        used = 0
        for row in rows:
            if used + len(row.text) > max_chars:
                if not taken:  # the newest turn alone is too long: keep its end
                    tail = row.text[len(row.text) - max_chars + 1 :] if max_chars > 1 else ""
                    taken.append(ChatTurn(row.role, "…" + tail))
                break
            taken.append(ChatTurn(row.role, row.text))
            used += len(row.text)
        return taken[::-1]

    def forget_before(self, moment: datetime) -> int:
        """Delete turns older than ``moment``; returns how many."""
        with self.db.write() as conn:
            result = conn.execute(delete(thread_turns).where(thread_turns.c.time < iso_utc(moment)))
        return int(result.rowcount)
