"""Stored chunks: one row per article-level section, ready for search.

``chunks_from_document`` is pure: it turns a parsed document into rows with
stable ids, deep links and content hashes. Search terms are added by the
ingest step (segmentation is the slow part and runs in worker processes).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from knowledge.documents import DocKind, ParsedDocument, law_article_url

_SAFE_ID = re.compile(r"^[\w:./\-]+$")
_SAFE_KEY = re.compile(r"^[^\s#]+$")  # section keys may be Japanese (1の3・1の4共-1) but never split an id
LAW_KINDS = frozenset({DocKind.LAW, DocKind.CABINET_ORDER, DocKind.MINISTERIAL_ORDINANCE})
PATH_SEPARATOR = " / "


@dataclass(frozen=True)
class Chunk:
    chunk_id: str  # f"{doc_id}#{article}"
    doc_id: str
    kind: str
    collection: str
    title: str
    law_num: str
    revision_id: str
    effective_date: str
    article: str  # e-Gov Num for law articles ("238_4"); the section key otherwise
    label: str  # 第二百三十八条の四
    caption: str
    path: str  # chapter / section titles joined with PATH_SEPARATOR
    part: str
    ordinal: int  # position within the document
    text: str
    url: str
    sha256: str

    @property
    def citation_label(self) -> str:
        """How staff name it: 地方自治法 第二百三十八条の四."""
        return f"{self.title} {self.label}".strip()


def validate_id(value: str, what: str) -> str:
    """Ids end up in storage filters and URLs: allow only a safe alphabet."""
    if not value or not _SAFE_ID.match(value):
        raise ValueError(f"{what} {value!r} may contain only letters, digits and _:./-")
    return value


def chunks_from_document(doc: ParsedDocument, *, collection: str) -> list[Chunk]:
    validate_id(doc.doc_id, "document id")
    validate_id(collection, "collection")
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for ordinal, section in enumerate(doc.sections):
        key = section.key
        if key in seen:  # e.g. two 附則 with the same article numbers: keep both, distinctly
            key = f"{key}~{ordinal}"
        seen.add(key)
        if not _SAFE_KEY.match(key):
            raise ValueError(f"section key {key!r} must be non-empty without spaces or '#'")
        url = law_article_url(doc.doc_id, key, section.part) if doc.kind in LAW_KINDS else doc.url
        chunks.append(
            Chunk(
                chunk_id=f"{doc.doc_id}#{key}",
                doc_id=doc.doc_id,
                kind=str(doc.kind),
                collection=collection,
                title=doc.title,
                law_num=doc.law_num,
                revision_id=doc.revision_id,
                effective_date=doc.effective_date,
                article=key,
                label=section.label,
                caption=section.caption,
                path=PATH_SEPARATOR.join(section.path),
                part=str(section.part),
                ordinal=ordinal,
                text=section.text,
                url=url,
                sha256=_content_hash(doc, section.label, section.caption, section.text),
            )
        )
    return chunks


def _content_hash(doc: ParsedDocument, label: str, caption: str, text: str) -> str:
    h = hashlib.sha256()
    for part in (doc.doc_id, doc.revision_id, doc.title, label, caption, text):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def search_body(chunk: Chunk) -> str:
    """Caption and text: what the article says."""
    return body_text(chunk.caption, chunk.text)


def body_text(caption: str, text: str) -> str:
    return f"{caption}\n{text}" if caption else text


def search_caption(chunk: Chunk) -> str:
    """The 見出し (or item label for other documents): short and high-signal."""
    return chunk.caption or chunk.label


def search_context(chunk: Chunk) -> str:
    """Where the article stands: chapter path and document title."""
    return "\n".join(x for x in (chunk.path.replace(PATH_SEPARATOR, "\n"), chunk.title) if x)
