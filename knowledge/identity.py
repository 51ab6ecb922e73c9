"""Who may write which document id: identity from provenance, never from a file's name or shape.

A law's id (e-Gov law id, e.g. 322AC0000000067) is global: citations, deep links and
verification resolve to it. Only a law source writes it: the e-Gov API client, or law
files the admin ingests into a law collection. Every other document is identified
within its collection (``{collection}/{local id}``), so two collections can hold a file
of the same name and no tenant file, feed item or notice can take a law's id.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection
from enum import StrEnum

from knowledge.chunks import LAW_KINDS
from knowledge.documents import DocKind, ParsedDocument, ParseError

NAMESPACE_SEPARATOR = "/"  # collections are [a-z0-9_-]: the first "/" ends the collection part
_LAW_ID = re.compile(r"^\d{3}(?:CONSTITUTION|AC|CO|M|IO|DF)[0-9A-Za-z_]*$")


class Provenance(StrEnum):
    """Where a document came from; it decides how the bytes are parsed and what id they may take."""

    EGOV = "egov"  # the e-Gov API client (kairan ingest egov, egov_revisions feeds): statutes
    ADMIN = "admin"  # files an admin points `kairan ingest` at
    FEED = "feed"  # a document a digest feed links to: a notice, whatever it looks like


def is_law_id(doc_id: str) -> bool:
    return bool(_LAW_ID.match(doc_id))


def namespaced(collection: str, local_id: str) -> str:
    return f"{collection}{NAMESPACE_SEPARATOR}{local_id}"


def stored_identity(
    doc: ParsedDocument,
    *,
    source: str,
    collection: str,
    provenance: Provenance,
    law_collections: Collection[str],
) -> ParsedDocument:
    """``doc`` with the id it is stored under, or ParseError when its source may not write it.

    Statutes keep their law id, but only from a law source and only in a law collection.
    Everything else is namespaced by its collection.
    """
    if doc.kind in LAW_KINDS:
        if provenance is Provenance.FEED:
            raise ParseError(f"{source}: a digest feed cannot bring in a statute ({doc.doc_id})")
        if not is_law_id(doc.doc_id):
            raise ParseError(f"{source}: {doc.doc_id!r} is not an e-Gov law id")
        if collection not in law_collections:
            names = "、".join(sorted(law_collections)) or "-"
            raise ParseError(
                f"{source}: 法令データ（{doc.doc_id} {doc.title}）は法令のコレクション（{names}）にだけ"
                f"取り込めます / statutes go only into a law collection ({names}), not {collection!r}"
            )
        return doc
    if provenance is Provenance.EGOV:
        raise ParseError(f"{source}: e-Gov returned something that is not a statute ({doc.kind})")
    kind = DocKind.CIRCULAR if provenance is Provenance.FEED else doc.kind
    return dataclasses.replace(doc, doc_id=namespaced(collection, doc.doc_id), kind=kind)


def legacy_id(doc_id: str) -> str | None:
    """The id a namespaced document had before ids included the collection (None for a law id)."""
    _, sep, local = doc_id.partition(NAMESPACE_SEPARATOR)
    return local if sep else None
