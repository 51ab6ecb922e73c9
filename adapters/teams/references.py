"""Persistent Teams state in the kairan state database (SQLAlchemy Core, same ``Database``).

* ``teams_conversations``: one Bot Framework conversation reference per conversation the bot is
  in (personal chat, group chat, or channel without the thread suffix), kept up to date from every
  message and from installation / membership updates, so digests can be posted proactively after
  a restart.
* ``teams_answer_messages``: which audit record each posted answer was logged as, so a feedback
  invoke (which only carries the rated message's id) reaches ``FeedbackStore``.

Tables live in their own ``MetaData`` and are created on first use of the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from bot.state.db import Database, iso_utc, utc_now

metadata = MetaData()

teams_conversations = Table(
    "teams_conversations",
    metadata,
    Column("conversation_id", String(512), primary_key=True),
    Column("conversation_type", String(16), nullable=False),  # personal | groupChat | channel
    Column("aad_tenant_id", String(64), nullable=True),
    Column("team_id", String(512), nullable=True),
    Column("reference", Text, nullable=False),  # ConversationReference JSON (by alias)
    Column("installed", Boolean, nullable=False),
    Column("updated", String(32), nullable=False),
)

teams_answer_messages = Table(
    "teams_answer_messages",
    metadata,
    Column("conversation_id", String(512), nullable=False),
    Column("activity_id", String(256), nullable=False),
    Column("audit_id", String(36), nullable=False),
    Column("time", String(32), nullable=False),
    PrimaryKeyConstraint("conversation_id", "activity_id"),
)


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
        metadata.create_all(db.engine)

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
        where = teams_conversations.c.conversation_id == conversation_id
        with self.db.write() as conn:
            if conn.execute(select(teams_conversations.c.conversation_id).where(where)).first() is None:
                conn.execute(insert(teams_conversations).values(conversation_id=conversation_id, **values))
            else:
                conn.execute(update(teams_conversations).where(where).values(**values))
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
        key = (teams_answer_messages.c.conversation_id == conversation_id) & (
            teams_answer_messages.c.activity_id == activity_id
        )
        with self.db.write() as conn:
            conn.execute(delete(teams_answer_messages).where(key))
            conn.execute(
                insert(teams_answer_messages).values(
                    conversation_id=conversation_id,
                    activity_id=activity_id,
                    audit_id=audit_id,
                    time=iso_utc(utc_now()),
                )
            )

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
