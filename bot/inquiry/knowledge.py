"""An answered 照会 as knowledge: one Q&A document per inquiry, written through the normal ingest path.

The document (``{collection}/inquiry-<id>``, kind ``qa``) holds the question as it was asked and the
responder's answer, so a later asker of the same question finds it and the sufficiency decision sees
the question covered by the hit's own text. It is titled 「照会回答 <date> <answerer>」, its pair is
labelled 照会<id>, and it links to the answer in its chat. A correction rewrites it (same id: the new
revision replaces the old in one commit); a withdrawal removes it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from bot.inquiry.store import Inquiry
from bot.inquiry.text import knowledge_title, section_key
from knowledge.identity import namespaced

if TYPE_CHECKING:
    from knowledge.ingest import Ingestor
    from knowledge.store import KnowledgeStore

INTERNAL_SOURCE = "{number}（{tenant}）への{answerer}の回答。庁内の回答であり、法令・通知ではありません。"


class KnowledgeWriteError(RuntimeError):
    """The captured answer could not be written (the ingest reported an error)."""


def local_id(inquiry: Inquiry) -> str:
    return f"inquiry-{inquiry.id}"


def doc_id(inquiry: Inquiry, collection: str) -> str:
    return namespaced(collection, local_id(inquiry))


def document(inquiry: Inquiry, *, answerer: str, tenant_name: str) -> bytes:
    """The Q&A JSON the ingest reads (``knowledge.parsers.qa``)."""
    item = {
        "id": section_key(inquiry),
        "question": inquiry.question.strip(),
        "answer": (inquiry.answer or "").strip(),
        "source": INTERNAL_SOURCE.format(number=inquiry.number, tenant=tenant_name, answerer=answerer),
        "category": "照会回答",
    }
    payload = {"title": knowledge_title(inquiry, answerer), "url": inquiry.answer_link or "", "items": [item]}
    return json.dumps(payload, ensure_ascii=False, indent=1).encode("utf-8")


class AnswerBook:
    """Writes captured answers into the knowledge base; ``refreshed`` is called after every change
    (the bot's own searcher looks at the new version at once, other replicas within their refresh)."""

    def __init__(
        self,
        *,
        store: KnowledgeStore,
        ingestor: Ingestor | None = None,
        law_collections: Collection[str] = (),
        refreshed: Callable[[], object] | None = None,
    ) -> None:
        from knowledge.ingest import Ingestor

        self.store = store
        self.ingestor = ingestor or Ingestor(store=store, workers=1, law_collections=tuple(law_collections))
        self.refreshed = refreshed
        self._lock = threading.Lock()  # one write at a time from this process

    def put(self, inquiry: Inquiry, *, collection: str, answerer: str, tenant_name: str) -> str:
        """Write (or rewrite) the inquiry's current answer; returns its document id."""
        from knowledge.ingest import SourceItem

        data = document(inquiry, answerer=answerer, tenant_name=tenant_name)
        item = SourceItem(source=f"{local_id(inquiry)}.json", collection=collection, data=data)
        with self._lock:
            report = self.ingestor.ingest([item])
        if report.errors:
            raise KnowledgeWriteError("; ".join(message for _, message in report.errors))
        self._refresh()
        return doc_id(inquiry, collection)

    def remove(self, inquiry: Inquiry, *, collection: str) -> None:
        """Take the inquiry's answer out of the knowledge base (withdrawn)."""
        with self._lock:
            if self.store.remove([doc_id(inquiry, collection)]):
                self.store.ensure_indexes()
        self._refresh()

    def _refresh(self) -> None:
        if self.refreshed is not None:
            self.refreshed()
