"""Every table of the state database, in one registry (SQLAlchemy Core, portable column types only).

``bot.state.db.open_database`` creates the missing ones in one transaction under a cross-process lock
(PostgreSQL), so replicas starting at once never race on the schema. The modules that read and write
a table own what it means: the audit log, usage, thread memory, feedback and the event ledger in
``bot.state``, questions in flight and the outbox for the question lifecycle (``bot.flow``), the
digest state in ``bot.digest.ledger``, the Teams conversation references in
``adapters.teams.references``, the 照会 loop's in ``bot.inquiry.store``. (APScheduler's job table
is its own: ``bot.digest.scheduler``.)
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# BigInteger primary keys autoincrement on PostgreSQL; SQLite only does so for INTEGER.
Id = BigInteger().with_variant(Integer(), "sqlite")

meta = Table(
    "kairan_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# One row per hash chain (id 1: audit_log, id 2: feedback_log): its last appended record. Appends
# lock it (FOR UPDATE on PostgreSQL).
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("id", String(36), nullable=False, unique=True),
    Column("time", String(32), nullable=False),
    Column("tenant", String(128), nullable=False),
    Column("channel", String(256), nullable=False),
    Column("user_hash", String(64), nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("sources", Text, nullable=False),  # canonical JSON list
    Column("model", String(256), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("abstained", Boolean, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

usage = Table(
    "usage",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("time", String(32), nullable=False),
    Column("tenant", String(128), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("model", String(256), nullable=False),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("cache_read_tokens", BigInteger, nullable=False),
    Column("cache_write_tokens", BigInteger, nullable=False),
    Column("cost_micros", BigInteger, nullable=True),  # estimated cost in millionths; NULL = no price
    Column("currency", String(3), nullable=False),
    Index("ix_usage_time", "time"),
    # A tenant's spend this month (the budget check before every answer), read from the index alone.
    Index("ix_usage_tenant_time", "tenant", "time", "currency", "cost_micros"),
)

thread_turns = Table(
    "thread_turns",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("thread_key", String(512), nullable=False),
    Column("time", String(32), nullable=False),
    Column("role", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_thread_turns_key", "thread_key", "id"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("audit_id", String(36), ForeignKey("audit_log.id"), nullable=False),
    Column("user_hash", String(64), nullable=False),
    Column("value", String(16), nullable=False),
    Column("comment", Text, nullable=True),
    Column("time", String(32), nullable=False),
    UniqueConstraint("audit_id", "user_hash", name="uq_feedback_audit_user"),
)

# Every feedback vote ever cast, append-only on a keyed hash chain (bot.state.chain; head: audit_head
# id 2). ``feedback`` above holds each user's current vote; verify checks it against this log.
feedback_log = Table(
    "feedback_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("id", String(36), nullable=False, unique=True),
    Column("time", String(32), nullable=False),
    Column("audit_id", String(36), nullable=False),
    Column("user_hash", String(64), nullable=False),
    Column("value", String(16), nullable=False),
    Column("comment", Text, nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("platform", String(32), nullable=False),
    Column("event_id", String(256), nullable=False),
    Column("time", String(32), nullable=False),
    PrimaryKeyConstraint("platform", "event_id"),
    Index("ix_processed_events_time", "time"),
)

# Questions claimed and being answered; a row left behind means its bot died mid-answer (resumed later).
questions_in_flight = Table(
    "questions_in_flight",
    metadata,
    Column("platform", String(32), nullable=False),
    Column("event_id", String(256), nullable=False),
    Column("payload", Text, nullable=False),  # JSON: what the adapter needs to answer the question again
    Column("started", String(32), nullable=False),
    Column("next_at", String(32), nullable=False),  # when it counts as interrupted; also the resume lease
    Column("attempts", Integer, nullable=False),  # resumptions so far
    PrimaryKeyConstraint("platform", "event_id"),
    Index("ix_questions_in_flight_due", "platform", "next_at"),
)

# Replies a platform did not take (still failing after the retries), posted again later in order.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("platform", String(32), nullable=False),
    Column("key", String(256), nullable=False),  # the event answered: one entry per answer
    Column("channel", String(256), nullable=False),
    Column("thread", String(256), nullable=True),
    Column("messages", Text, nullable=False),  # JSON list of the platform messages still to post
    Column("created", String(32), nullable=False),
    Column("next_at", String(32), nullable=False),  # also the lease of the replica posting it
    Column("attempts", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # pending | delivered | abandoned
    UniqueConstraint("platform", "key", name="uq_outbox_platform_key"),
    Index("ix_outbox_due", "platform", "state", "next_at"),
)

# -- the 照会 loop (bot.inquiry.store) ---------------------------------------------------------------

# A 照会 that may be sent from the chat: one per answer in a tenant whose inquiries go somewhere (its key
# is the answer's audit id, on the 「照会する」 button). Pruned after a while; what was sent is kept below.
inquiry_offers = Table(
    "inquiry_offers",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("tenant", String(128), nullable=False),
    Column("platform", String(32), nullable=False),  # where the question was asked
    Column("channel", String(256), nullable=False),
    Column("thread", String(256), nullable=True),
    Column("message", String(256), nullable=True),
    Column("user", String(256), nullable=False),  # the asker (platform user id): only they may send it
    Column("user_name", String(256), nullable=False),
    Column("question", Text, nullable=False),  # redacted, as the engine saw it
    Column("reply", Text, nullable=False),  # what kairan answered (what was searched, what was found)
    Column("draft", Text, nullable=False),  # the 照会文案 (redacted)
    Column("sources", Text, nullable=False),  # JSON list of {label, url}: what the search found
    Column("abstained", Boolean, nullable=False),
    Column("created", String(32), nullable=False),
    Index("ix_inquiry_offers_asker", "platform", "channel", "user", "created"),
    Index("ix_inquiry_offers_created", "created"),
)

# Inquiries sent (or being sent): created once per offer (its key is unique), then worked on under a lease
# (``next_at``): posted to the destination, the asker told, the answer kept as knowledge.
inquiries = Table(
    "inquiries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),  # the 照会番号 staff see: 照会#12
    Column("offer", String(64), nullable=False, unique=True),
    Column("tenant", String(128), nullable=False),
    Column("asker_platform", String(32), nullable=False),
    Column("asker_channel", String(256), nullable=False),
    Column("asker_thread", String(256), nullable=True),
    Column("asker_message", String(256), nullable=True),
    Column("asker_user", String(256), nullable=False),
    Column("asker_name", String(256), nullable=False),
    Column("question", Text, nullable=False),  # redacted
    Column("reply", Text, nullable=False),  # what kairan answered when it was asked
    Column("text", Text, nullable=False),  # the 照会 as sent, after the asker's edits (redacted)
    Column("sources", Text, nullable=False),  # JSON list of {label, url}
    Column("abstained", Boolean, nullable=False),
    Column("dest_platform", String(32), nullable=False),
    Column("dest_channel", String(256), nullable=False),
    Column("dest_message", String(256), nullable=True),  # the posted 照会 (its thread on Slack and Teams)
    Column("dest_link", Text, nullable=True),
    Column("state", String(16), nullable=False),  # sending | open | answered | withdrawn | failed
    Column("created", String(32), nullable=False),
    Column("sent_at", String(32), nullable=True),
    Column("answered_at", String(32), nullable=True),  # the first answer
    Column("updated", String(32), nullable=False),
    Column("revision", Integer, nullable=False),  # answers captured so far (a correction is a new one)
    Column("answer", Text, nullable=True),  # the current answer (redacted)
    Column("answer_message", String(256), nullable=True),  # the responder's message holding it
    Column("answer_link", Text, nullable=True),
    Column("responder", String(256), nullable=True),
    Column("responder_name", String(256), nullable=True),
    Column("answer_time", String(32), nullable=True),  # when the current answer was given
    # Work to do, each compared with what was done: the asker told of every event (sent, answered,
    # corrected, withdrawn), the responder's receipt per revision, the knowledge base at ``knowledge_want``.
    Column("event_seq", Integer, nullable=False),
    Column("told_seq", Integer, nullable=False),
    Column("receipt_rev", Integer, nullable=False),
    Column("knowledge_want", Integer, nullable=False),  # revision to hold (0: none)
    Column("knowledge_rev", Integer, nullable=False),  # revision held
    Column("work", Boolean, nullable=False),  # something above is still to do
    Column("next_at", String(32), nullable=False),  # lease of the replica doing it (or the next attempt)
    Column("attempts", Integer, nullable=False),  # attempts of the current work
    Index("ix_inquiries_work", "work", "next_at"),
    Index("ix_inquiries_thread", "dest_platform", "dest_channel", "dest_message"),
    Index("ix_inquiries_state", "state", "updated"),
)

# Every responder message taken as an answer (or a withdrawal), once: a redelivered event, or the same
# message arriving as a mention and as a channel message, is recognised here.
inquiry_replies = Table(
    "inquiry_replies",
    metadata,
    Column("platform", String(32), nullable=False),
    Column("channel", String(256), nullable=False),
    Column("message", String(256), nullable=False),
    Column("inquiry_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # answer | withdraw | edit:<n>
    Column("time", String(32), nullable=False),
    PrimaryKeyConstraint("platform", "channel", "message"),
)

# -- digests (bot.digest.ledger) -------------------------------------------------------------------

digest_sources = Table(
    "digest_sources",
    metadata,
    Column("source_id", String(64), primary_key=True),
    Column("etag", Text, nullable=True),
    Column("last_modified", Text, nullable=True),
    Column("cursor", Text, nullable=True),  # e-Gov: the updated_from date of the next poll
    Column("polled_at", String(32), nullable=True),
    Column("ok_at", String(32), nullable=True),
    Column("error", Text, nullable=True),
)

digest_items = Table(
    "digest_items",
    metadata,
    Column("source_id", String(64), nullable=False),
    Column("item_id", String(1024), nullable=False),
    Column("title", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("published", String(40), nullable=False),
    Column("category", Text, nullable=False),
    Column("feed_summary", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("doc_id", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("seen_at", String(32), nullable=False),
    PrimaryKeyConstraint("source_id", "item_id"),
    Index("ix_digest_items_status", "status", "seen_at"),
)

digest_ledger = Table(
    "digest_ledger",
    metadata,
    Column("subscription", String(64), nullable=False),
    Column("source_id", String(64), nullable=False),
    Column("item_id", String(1024), nullable=False),
    Column("state", String(16), nullable=False),
    Column("run_id", String(36), nullable=False),
    Column("marker", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    Column("updated_at", String(32), nullable=False),
    PrimaryKeyConstraint("subscription", "source_id", "item_id"),
    Index("ix_digest_ledger_state", "state", "subscription", "run_id"),
)

digest_subscriptions = Table(
    "digest_subscriptions",
    metadata,
    Column("subscription", String(64), primary_key=True),
    Column("created_at", String(32), nullable=False),
    Column("last_run_at", String(32), nullable=True),
    Column("last_status", String(32), nullable=True),
    Column("last_posted", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
)


# -- conversation references of a platform that posts proactively through them (Teams) --------------

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
