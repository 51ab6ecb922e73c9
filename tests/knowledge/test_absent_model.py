"""The absent-law model: how probably a question is about a law not held, read against every held law, in
the scope a search may read, and how an ingest keeps it trained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.absent_model import ABSENT, HELD, RECIPE, AbsentReading, ScopeReader, examples
from knowledge.article_model import ArticleModel, train
from knowledge.documents import DocKind, ParsedDocument, ParsedSection
from knowledge.law_topics import CatalogueEntry, TopicCatalogue, absent_law_lines
from knowledge.phrasing_index import ABSENT_MODEL, ARTICLE_MODEL, index_phrasings, update_absent_model
from knowledge.phrasings import load_file
from knowledge.store import KnowledgeStore
from knowledge.tokenize import Segmenter
from tests.knowledge.docs import JICHI_ID, jichi, koumuin, write_doc
from tests.knowledge.test_article_model import CIVIL_SERVICE, PROPERTY, lines_file

KOUMUIN_ID = "325AC0000000261"
# Lines of a law not held, written as the catalogue's topics and asks are.
HEALTH_INSURANCE = CatalogueEntry(
    "健康保険法",
    ("任意継続被保険者", "傷病手当金", "出産手当金"),
    ("会社を辞めた後も前の会社の健康保険を続けたい", "病気で会社を休んだ間の給料の代わりの手当"),
)
CATALOGUE = TopicCatalogue([HEALTH_INSURANCE, CatalogueEntry("地方公務員法", ("営利企業への従事等の制限",))])
LINES = [(JICHI_ID, "238_4", t) for t in PROPERTY] + [(KOUMUIN_ID, "38", t) for t in CIVIL_SERVICE]


@pytest.fixture(scope="module")
def model() -> ArticleModel:
    absent = absent_law_lines(CATALOGUE.entries, ["地方自治法", "地方公務員法"])
    return train(examples(LINES, absent), RECIPE)


def test_held_laws_and_the_catalogue_laws_not_held_are_its_outputs() -> None:
    absent = absent_law_lines(CATALOGUE.entries, ["地方自治法", "地方公務員法"])
    assert {law for law, _ in absent} == {"健康保険法"}  # 地方公務員法 is held: its lines are its articles'
    found = examples(LINES, absent)
    assert {o for o, _ in found} == {HELD + JICHI_ID, HELD + KOUMUIN_ID, ABSENT + "健康保険法"}
    assert examples(LINES, []) == [] and examples([], absent) == []  # nothing to tell apart


def test_a_question_about_a_law_not_held_reads_as_absent(model: ArticleModel) -> None:
    reader = ScopeReader.of(model, {JICHI_ID, KOUMUIN_ID})
    absent = reader.read("退職したあと前の会社の健康保険を続けられる？").log_share
    held = reader.read("職員が休日にアルバイトをしてもいい？").log_share
    assert absent > np.log(0.5) > held


def test_a_law_held_only_outside_the_scope_counts_as_absent(model: ArticleModel) -> None:
    question = "職員が休日にアルバイトをしてもいい？"
    everywhere = ScopeReader.of(model, {JICHI_ID, KOUMUIN_ID}).read(question).log_share
    elsewhere = ScopeReader.of(model, {JICHI_ID}).read(question).log_share  # another tenant's 地方公務員法
    assert elsewhere > np.log(0.5) > everywhere


def test_the_reading_is_evidence_only_about_a_law_the_model_knows(model: ArticleModel) -> None:
    reading = ScopeReader.of(model, {JICHI_ID, KOUMUIN_ID}).read("前の会社の健康保険を続けたい")
    assert reading.about(KOUMUIN_ID) == reading.log_share
    assert reading.about("city-reiki-1") is None  # an admin's 例規 has no lines: the model knows nothing
    assert AbsentReading(-3.0, frozenset()).about(JICHI_ID) is None


def test_an_ingest_trains_it_only_when_the_lines_or_the_laws_held_change(tmp_path: Path) -> None:
    segmenter = Segmenter()
    store = KnowledgeStore(tmp_path / "kb")
    write_doc(store, jichi(), segmenter)
    write_doc(store, koumuin(), segmenter)
    property_file = load_file(lines_file(tmp_path, JICHI_ID, "地方自治法", "238_4", PROPERTY), origin="admin")
    service_path = lines_file(tmp_path, KOUMUIN_ID, "地方公務員法", "38", CIVIL_SERVICE)
    service_file = load_file(service_path, origin="admin")
    stages: list[str] = []
    blas_threads = before = _blas_threads()

    def progress(stage: str, done: int, total: int) -> None:
        nonlocal blas_threads
        stages.append(stage)
        blas_threads = min(blas_threads, _blas_threads())

    first = index_phrasings(store, [property_file, service_file], segmenter=segmenter, progress=progress)
    assert first.absent_model == "trained" and ABSENT_MODEL in stages
    assert first.article_model == "trained" and ARTICLE_MODEL in stages  # side by side, each reporting
    assert blas_threads == 1 and _blas_threads() == before  # one BLAS thread while they train, then put back
    trained = store.absent_model()
    assert trained is not None and HELD + JICHI_ID in trained.articles
    assert ABSENT + "健康保険法" in trained.articles  # from the packaged catalogue
    assert ABSENT + "地方自治法" not in trained.articles

    again = index_phrasings(store, [property_file, service_file], segmenter=segmenter)
    assert again.absent_model == "unchanged"
    reread = KnowledgeStore(tmp_path / "kb").absent_model()  # another reader loads the stored file
    assert reread is not None and reread.digest == trained.digest

    # A catalogue in which 地方自治法 is the only other law: the laws it learns from changed.
    catalogue = TopicCatalogue([HEALTH_INSURANCE, CatalogueEntry("地方自治法", ("行政財産",))])
    assert update_absent_model(store, catalogue=catalogue) == ("trained", (2, 1))
    smaller = store.absent_model()
    assert smaller is not None
    assert [o for o in smaller.articles if o.startswith(ABSENT)] == [ABSENT + "健康保険法"]

    every_law_held = TopicCatalogue([CatalogueEntry("地方自治法", ("行政財産",))])
    assert update_absent_model(store, catalogue=every_law_held) == ("none", (0, 0))
    assert store.absent_model() is None and not (tmp_path / "kb" / "absent_model.npz").exists()


def test_it_weighs_held_statutes_not_circulars_against_the_laws_not_held(tmp_path: Path) -> None:
    """A circular's items (法人税基本通達) with lines are outputs of the article model, not held laws of this
    one: a best hit among them leaves the decision's absent reading out."""
    segmenter = Segmenter()
    store = KnowledgeStore(tmp_path / "kb")
    write_doc(store, jichi(), segmenter)
    text = "法令上の法人でない社団とは、団体としての組織を有するものをいう。"
    item = ParsedSection(key="1-1-1", label="1－1－1", text=text)
    write_doc(store, ParsedDocument("nta-hojin", DocKind.CIRCULAR, "法人税基本通達", (item,)), segmenter)
    assert store.documents()["nta-hojin"].kind == DocKind.CIRCULAR
    lines = ["法人格のない自治会にも法人税がかかる？", "人格のない社団の範囲（町内会・サークル）"]
    files = [
        load_file(lines_file(tmp_path, JICHI_ID, "地方自治法", "238_4", PROPERTY), origin="admin"),
        load_file(lines_file(tmp_path, "nta-hojin", "法人税基本通達", "1-1-1", lines), origin="admin"),
    ]
    report = index_phrasings(store, files, segmenter=segmenter)
    assert report.article_model == "trained" and report.absent_model == "trained"
    articles, absent = store.article_model(), store.absent_model()
    assert articles is not None and "nta-hojin:1-1-1" in articles.articles
    assert absent is not None and [o for o in absent.articles if o.startswith(HELD)] == [HELD + JICHI_ID]


def _blas_threads() -> int:
    from threadpoolctl import threadpool_info

    return min(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")
