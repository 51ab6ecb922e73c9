"""Sources built from the real 地方自治法 e-Gov HTML in the shared corpus (parsed once per session)."""

from __future__ import annotations

from functools import cache

from bot.models import Source
from knowledge.documents import ParsedDocument, law_article_url
from knowledge.parsers.egov_html import parse
from tests.conftest import CORPUS

JICHI_FILE = CORPUS / "egov_html" / "322AC0000000067_20250601_504AC0000000068.html"
JICHI = "322AC0000000067"


@cache
def jichi() -> ParsedDocument:
    return parse(JICHI_FILE.read_bytes(), str(JICHI_FILE))


def section_text(key: str) -> str:
    return next(s for s in jichi().sections if s.key == key).text


def source(n: int, key: str) -> Source:
    """Source n for article ``key`` of 地方自治法, with the whole article text."""
    doc = jichi()
    section = next(s for s in doc.sections if s.key == key)
    return Source(
        n=n,
        doc_id=doc.doc_id,
        article=key,
        title=doc.title,
        label=section.label,
        caption=section.caption,
        url=law_article_url(doc.doc_id, key, section.part),
        text=section.text,
        kind=str(doc.kind),
    )


def sources(*keys: str) -> list[Source]:
    return [source(n, key) for n, key in enumerate(keys, start=1)]
