"""Circular digests: poll feeds, ingest new notices, post one sourced digest per subscription, once."""
