"""Persistent Teams state in the kairan state database (SQLAlchemy Core, same ``Database``).

* ``teams_conversations``: one Bot Framework conversation reference per conversation the bot is
  in (personal chat, group chat, or channel without the thread suffix), kept up to date from every
  message and from installation / membership updates, so digests can be posted proactively after
  a restart.
* ``teams_answer_messages``: which audit record each posted answer was logged as, so a feedback
  invoke (which only carries the rated message's id) reaches ``FeedbackStore``.

The tables are in ``bot.state.tables`` (created with the state database); both are written with
upserts (``INSERT … ON CONFLICT DO UPDATE``), so replicas saving the same conversation never race.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    select,
    update,
)

from bot.state.db import Database, iso_utc, upsert, utc_now
from bot.state.tables import teams_answer_messages, teams_conversations


@dataclass(frozen=True)
class StoredConversation:
    conversation_id: str
    conversation_type: str
    aad_tenant_id: str | None
    team_id: str | None
    reference: dict[str, Any]
    installed: bool
    updated: str


class ConversationStore:
    """Conversation references and answer-message → audit id links, in the state database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- conversation references ---------------------------------------------------------
    def save(
        self,
        conversation_id: str,
        reference: dict[str, Any],
        *,
        conversation_type: str,
        aad_tenant_id: str | None = None,
        team_id: str | None = None,
        installed: bool = True,
    ) -> StoredConversation:
        updated = iso_utc(utc_now())
        values = {
            "conversation_type": conversation_type,
            "aad_tenant_id": aad_tenant_id,
            "team_id": team_id,
            "reference": json.dumps(reference, ensure_ascii=False, sort_keys=True),
            "installed": installed,
            "updated": updated,
        }
        with self.db.write() as conn:
            upsert(conn, teams_conversations, {"conversation_id": conversation_id, **values})
        return StoredConversation(
            conversation_id,
            conversation_type,
            aad_tenant_id,
            team_id,
            reference,
            installed,
            updated,
        )

    def mark_uninstalled(self, conversation_id: str) -> bool:
        """The bot was removed: keep the row (for the record) but never post there again."""
        where = teams_conversations.c.conversation_id == conversation_id
        with self.db.write() as conn:
            result = conn.execute(
                update(teams_conversations).where(where).values(installed=False, updated=iso_utc(utc_now()))
            )
        return bool(result.rowcount)

    def get(self, conversation_id: str) -> StoredConversation | None:
        query = select(teams_conversations).where(teams_conversations.c.conversation_id == conversation_id)
        with self.db.read() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _stored(row)

    def all(self, *, installed_only: bool = True) -> list[StoredConversation]:
        query = select(teams_conversations).order_by(teams_conversations.c.conversation_id)
        if installed_only:
            query = query.where(teams_conversations.c.installed.is_(True))
        with self.db.read() as conn:
            return [_stored(row) for row in conn.execute(query).mappings()]

    # -- answers posted ------------------------------------------------------------------
    def link_answer(self, conversation_id: str, activity_id: str, audit_id: str) -> None:
        row = {"conversation_id": conversation_id, "activity_id": activity_id, "audit_id": audit_id,
               "time": iso_utc(utc_now())}
        with self.db.write() as conn:
            upsert(conn, teams_answer_messages, row)

    def audit_id_for(self, conversation_id: str, activity_id: str) -> str | None:
        query = select(teams_answer_messages.c.audit_id).where(
            (teams_answer_messages.c.conversation_id == conversation_id)
            & (teams_answer_messages.c.activity_id == activity_id)
        )
        with self.db.read() as conn:
            return conn.execute(query).scalar_one_or_none()


def _stored(row: Any) -> StoredConversation:
    return StoredConversation(
        conversation_id=row["conversation_id"],
        conversation_type=row["conversation_type"],
        aad_tenant_id=row["aad_tenant_id"],
        team_id=row["team_id"],
        reference=json.loads(row["reference"]),
        installed=bool(row["installed"]),
        updated=row["updated"],
    )
