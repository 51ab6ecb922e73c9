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
MAX_SECTION_CHARS = 20_000  # longer sections are stored in parts (the longest article in the corpus: 8,659)


def chunk_id(doc_id: str, article: str) -> str:
    """The id of an article's row: its document and its key (the one place this is spelled)."""
    return f"{doc_id}#{article}"


@dataclass(frozen=True)
class Chunk:
    chunk_id: str  # chunk_id(doc_id, article)
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
    """Rows for ``doc``'s sections; a section longer than MAX_SECTION_CHARS becomes several parts
    (the first keeps the section's key, the others ``{key}~p2`` …, labelled ``（2/3）``)."""
    validate_id(doc.doc_id, "document id")
    validate_id(collection, "collection")
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for index, section in enumerate(doc.sections):
        key = section.key
        if key in seen:  # e.g. two 附則 with the same article numbers: keep both, distinctly
            key = f"{key}~{index}"
        seen.add(key)
        if not _SAFE_KEY.match(key):
            raise ValueError(f"section key {key!r} must be non-empty without spaces or '#'")
        url = law_article_url(doc.doc_id, key, section.part) if doc.kind in LAW_KINDS else doc.url
        parts = split_text(section.text, MAX_SECTION_CHARS)
        for n, text in enumerate(parts, start=1):
            part_key = key if n == 1 else f"{key}~p{n}"
            label = section.label if len(parts) == 1 else f"{section.label}（{n}/{len(parts)}）"
            chunks.append(
                Chunk(
                    chunk_id=chunk_id(doc.doc_id, part_key),
                    doc_id=doc.doc_id,
                    kind=str(doc.kind),
                    collection=collection,
                    title=doc.title,
                    law_num=doc.law_num,
                    revision_id=doc.revision_id,
                    effective_date=doc.effective_date,
                    article=part_key,
                    label=label,
                    caption=section.caption,
                    path=PATH_SEPARATOR.join(section.path),
                    part=str(section.part),
                    ordinal=len(chunks),
                    text=text,
                    url=url,
                    sha256=_content_hash(doc, label, section.caption, text),
                )
            )
    return chunks


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters that join back to it, cut after a line
    break or a 。 in the second half of a piece where there is one; linear in the text."""
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + limit, len(text))
        if end < len(text):
            for mark in ("\n", "。"):
                stop = text.rfind(mark, start + limit // 2, end)
                if stop != -1:
                    end = stop + 1
                    break
        pieces.append(text[start:end])
        start = end
    return pieces


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
