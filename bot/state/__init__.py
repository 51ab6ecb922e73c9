"""Persistent state through SQLAlchemy: audit log, usage, thread memory, feedback, event ledger."""
