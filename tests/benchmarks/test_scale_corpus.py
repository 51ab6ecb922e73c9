"""The scaled-corpus generator of benchmarks/scale.py: variants parse back as distinct, real-looking laws."""

from __future__ import annotations

import random

import numpy as np

from benchmarks.hashing_embedder import HashingEmbedder
from benchmarks.scale_corpus import Vocabulary, make_variant, render_markdown, variants, vary_text
from knowledge.documents import DocKind, ParsedDocument, Part
from knowledge.parsers import parse_bytes
from tests.conftest import CORPUS

GYOSEI_HTML = CORPUS / "egov_html" / "405AC0000000088_20240926_506AC0000000065.html"


def _base() -> ParsedDocument:
    return parse_bytes(GYOSEI_HTML.read_bytes(), str(GYOSEI_HTML))


def test_a_variant_parses_back_with_its_own_id_title_numbering_and_wording() -> None:
    base = _base()
    vocab = Vocabulary.from_documents([base])
    variant = make_variant(base, 7, vocab)
    back = parse_bytes(render_markdown(variant).encode(), f"{variant.doc_id}.md")
    assert back.doc_id == variant.doc_id == "405AC9000000007"
    assert back.kind is DocKind.LAW and back.title == variant.title != base.title
    assert back.law_num == variant.law_num
    expected = [("附則" if s.part is Part.SUPPL else "") + s.label for s in variant.sections]
    assert [s.label for s in back.sections] == expected
    assert [s.part for s in back.sections] == [s.part for s in variant.sections]
    main = [s for s in back.sections if s.part is Part.MAIN]
    assert [s.key for s in main] == [str(i) for i in range(1, len(main) + 1)]
    assert any(s.part is Part.SUPPL for s in back.sections)
    base_texts = {s.text for s in base.sections}
    changed = sum(s.text not in base_texts for s in back.sections if len(s.text) > 80)
    assert changed > 0.8 * sum(len(s.text) > 80 for s in back.sections)
    # Same seed, same variant: the benchmark is reproducible.
    assert render_markdown(make_variant(base, 7, vocab)) == render_markdown(variant)


def test_vary_text_keeps_article_references_and_swaps_words() -> None:
    vocab = Vocabulary(words=("審査基準",), cumulative=(1,))
    text = "行政庁は、第五条第一項の規定により、審査基準を定めるものとする。"
    varied = vary_text(text, random.Random(1), vocab, rate=1.0, coin_rate=0.0)
    assert "第五条第一項" in varied and "行政庁" not in varied
    assert varied.count("審査基準") == 3


def test_variants_stop_at_the_target_with_distinct_ids() -> None:
    base = _base()
    docs = list(variants([base], Vocabulary.from_documents([base]), target_chunks=300))
    assert sum(len(d.sections) for d in docs) >= 300
    assert sum(len(d.sections) for d in docs[:-1]) < 300
    assert len({d.doc_id for d in docs}) == len(docs)


def test_hashing_embedder_rows_are_unit_vectors_and_similar_texts_are_closer() -> None:
    embedder = HashingEmbedder(dim=64)
    vectors = embedder.embed_documents(["行政財産の目的外使用", "行政財産の目的外使用の許可", "航空機の登録"])
    assert vectors.shape == (3, 64) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert np.allclose(embedder.embed_query("行政財産の目的外使用"), vectors[0])
