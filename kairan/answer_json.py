"""The JSON shape of an answer, shared by ``kairan ask --json`` and the console API."""

from __future__ import annotations

from typing import Any

from bot.models import Answer


def answer_json(answer: Answer) -> dict[str, Any]:
    usage = answer.usage
    return {
        "answer": answer.text,
        "abstained": answer.abstained,
        "extractive": answer.extractive,
        "citations": [
            {
                "n": c.n,
                "doc_id": c.doc_id,
                "article": c.article,
                "title": c.title,
                "url": c.url,
                "quote": c.quote,
                "verified": c.verified,
            }
            for c in answer.citations
        ],
        "warnings": list(answer.warnings),
        "inquiry_draft": answer.inquiry_draft,
        "usage": None
        if usage is None
        else {
            "provider": usage.provider,
            "model": usage.model,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "audit_id": answer.audit_id,
    }
