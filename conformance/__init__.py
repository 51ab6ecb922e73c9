"""Conformance runs against the chat platforms' own clients (``make conformance``)."""
