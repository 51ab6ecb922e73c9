"""Phrasings written for the articles that have none: planning, the hash cache, the files, the ingest hook.

The author here is an in-process stand-in for the LLM (tests/bot/test_phrasing_author.py and
tests/kairan/test_phrasings_cli.py run the real clients against the fake LLM servers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from knowledge.documents import DocKind, ParsedDocument, ParsedSection
from knowledge.ingest import Ingestor, discover
from knowledge.phrasing_generation import (
    ArticleToPhrase,
    BatchResult,
    GeneratedPhrasings,
    generate_phrasings,
)
from knowledge.phrasings import PhrasingSources, load_file
from knowledge.store import KnowledgeStore
from knowledge.tokenize import Segmenter
from tests.knowledge.docs import JICHI_ID, jichi, koumuin, write_doc

KOUMUIN_ID = "325AC0000000261"


class FakeAuthor:
    """Two lines per article, one request per article; articles in ``fail`` get a malformed reply."""

    label = "fake model-1"

    def __init__(self, fail: Sequence[str] = ()) -> None:
        self.fail = set(fail)
        self.asked: list[tuple[str, str]] = []

    def write(self, articles: Sequence[ArticleToPhrase], on_batch: Callable[[BatchResult], None]) -> None:
        for a in articles:
            self.asked.append((a.doc_id, a.article))
            if a.article in self.fail:
                on_batch(BatchResult((a,), error="malformed reply: not JSON", input_tokens=50))
                continue
            lines = (f"{a.caption.strip('（）')}の言い方", f"{a.label}について職員が聞くこと？")
            result = BatchResult((a,), lines={(a.doc_id, a.article): lines}, input_tokens=50, output_tokens=9)
            on_batch(result)


@pytest.fixture
def store(tmp_path: Path, segmenter: Segmenter) -> KnowledgeStore:
    store = KnowledgeStore(tmp_path / "kb")
    write_doc(store, jichi(extra=True), segmenter)
    write_doc(store, koumuin(), segmenter)
    return store


def sources(tmp_path: Path, *admin: Path) -> PhrasingSources:
    return PhrasingSources(shipped=False, admin=admin, generated=tmp_path / "phrasings")


def test_writes_a_reviewable_file_per_document_for_main_provision_articles(
    tmp_path: Path, store: KnowledgeStore
) -> None:
    author = FakeAuthor()
    seen: list[tuple[str, int, int]] = []
    report = generate_phrasings(store, sources(tmp_path), author, progress=lambda *a: seen.append(a))
    # 附則 (suppl0_1) are not asked for; every main-provision article is, once.
    assert sorted(author.asked) == [
        (JICHI_ID, "225"), (JICHI_ID, "238_4"), (JICHI_ID, "242"), (KOUMUIN_ID, "38")
    ]
    assert (report.articles, report.phrased, report.lines, report.requests) == (4, 4, 8, 4)
    assert (report.input_tokens, report.output_tokens, report.failures) == (200, 36, [])
    assert seen[0] == ("generate", 0, 4) and seen[-1] == ("generate", 4, 4)
    path = tmp_path / "phrasings" / f"{JICHI_ID}.yaml"
    loaded = load_file(path, origin="generated")
    assert (loaded.doc_id, loaded.title) == (JICHI_ID, "地方自治法")
    assert list(loaded.articles) == ["225", "238_4", "242"]  # the law's order
    assert loaded.articles["238_4"] == (
        "行政財産の管理及び処分の言い方", "第二百三十八条の四について職員が聞くこと?"
    )
    text = path.read_text("utf-8")
    assert text.startswith("# 地方自治法 — LLM（fake model-1）が書いた職員の言い方")
    assert '  "238_4":  # 第二百三十八条の四（行政財産の管理及び処分）\n' in text
    state = json.loads((tmp_path / "phrasings" / ".state" / f"{JICHI_ID}.json").read_text("utf-8"))
    assert set(state["articles"]) == {"225", "238_4", "242"}
    # What the sources load is what gets indexed: origin "generated".
    files, errors = sources(tmp_path).load()
    assert errors == [] and {f.origin for f in files} == {"generated"} and len(files) == 2


def test_unchanged_text_is_not_asked_again_and_a_changed_article_is(
    tmp_path: Path, store: KnowledgeStore, segmenter: Segmenter
) -> None:
    generate_phrasings(store, sources(tmp_path), FakeAuthor())
    again = FakeAuthor()
    report = generate_phrasings(store, sources(tmp_path), again)
    assert again.asked == [] and report.requests == 0 and report.cached == 4
    # A new revision with the same words: the chunk hashes change, the text does not: still free.
    write_doc(store, jichi("20260401", extra=True), segmenter)
    revision = FakeAuthor()
    assert generate_phrasings(store, sources(tmp_path), revision).cached == 4 and revision.asked == []
    # One article reworded: only that one is asked, the file keeps the others.
    reworded = jichi("20260401", extra=True, text_238_4="行政財産は、貸し付けることができない。")
    write_doc(store, reworded, segmenter)
    changed = FakeAuthor()
    generate_phrasings(store, sources(tmp_path), changed)
    assert changed.asked == [(JICHI_ID, "238_4")]
    loaded = load_file(tmp_path / "phrasings" / f"{JICHI_ID}.yaml", origin="generated")
    assert list(loaded.articles) == ["225", "238_4", "242"]
    # An article gone from the law loses its lines.
    write_doc(store, jichi("20270401"), segmenter)
    generate_phrasings(store, sources(tmp_path), FakeAuthor())
    loaded = load_file(tmp_path / "phrasings" / f"{JICHI_ID}.yaml", origin="generated")
    assert list(loaded.articles) == ["225", "238_4"]


def test_shipped_and_admin_lines_take_precedence(tmp_path: Path, store: KnowledgeStore) -> None:
    admin = tmp_path / "admin.yaml"
    head = f"doc_id: {JICHI_ID}\ntitle: 地方自治法\narticles:\n"
    admin.write_text(head + '  "225":\n    - 使用料の条例\n', "utf-8")
    author = FakeAuthor()
    generate_phrasings(store, sources(tmp_path, admin), author, doc_ids=[JICHI_ID])
    assert author.asked == [(JICHI_ID, "238_4"), (JICHI_ID, "242")]
    # An admin file written later for an article already generated: the generated lines go.
    admin.write_text(head + '  "225":\n    - 使用料\n  "242":\n    - 住民監査請求\n', "utf-8")
    later = FakeAuthor()
    generate_phrasings(store, sources(tmp_path, admin), later, doc_ids=[JICHI_ID])
    assert later.asked == []
    loaded = load_file(tmp_path / "phrasings" / f"{JICHI_ID}.yaml", origin="generated")
    assert list(loaded.articles) == ["238_4"]


def test_a_failed_batch_is_reported_and_retried_next_time(tmp_path: Path, store: KnowledgeStore) -> None:
    author = FakeAuthor(fail=["238_4"])
    report = generate_phrasings(store, sources(tmp_path), author)
    assert len(author.asked) == 4 and report.phrased == 3
    assert report.failures == ["地方自治法 第二百三十八条の四: malformed reply: not JSON"]
    loaded = load_file(tmp_path / "phrasings" / f"{JICHI_ID}.yaml", origin="generated")
    assert list(loaded.articles) == ["225", "242"]
    retry = FakeAuthor()
    generate_phrasings(store, sources(tmp_path), retry)
    assert retry.asked == [(JICHI_ID, "238_4")]


def test_edits_in_the_generated_file_are_kept_and_a_broken_file_is_not_overwritten(
    tmp_path: Path, store: KnowledgeStore
) -> None:
    generate_phrasings(store, sources(tmp_path), FakeAuthor())
    path = tmp_path / "phrasings" / f"{KOUMUIN_ID}.yaml"
    edited = path.read_text("utf-8").replace("営利企業への従事等の制限の言い方", "副業・兼業の許可")
    path.write_text(edited, "utf-8")
    forced = FakeAuthor()
    generate_phrasings(store, sources(tmp_path), forced, doc_ids=[JICHI_ID], force=True)
    assert sorted(forced.asked) == [(JICHI_ID, "225"), (JICHI_ID, "238_4"), (JICHI_ID, "242")]
    assert "副業・兼業の許可" in load_file(path, origin="generated").articles["38"]
    path.write_text(edited + "  broken: [\n", "utf-8")
    report = generate_phrasings(store, sources(tmp_path), FakeAuthor(), force=True)
    assert len(report.failures) == 1 and str(path) in report.failures[0]
    assert path.read_text("utf-8").endswith("broken: [\n")


def test_deleted_articles_and_qa_are_not_sent(
    tmp_path: Path, store: KnowledgeStore, segmenter: Segmenter
) -> None:
    write_doc(store, jichi(extra=True, text_238_4="削除"), segmenter)
    qa = ParsedDocument(
        doc_id="qa-test",
        kind=DocKind.QA,
        title="よくある質問",
        sections=(ParsedSection(key="q1", label="問1", text="問 窓口の時間は？ 答 午前9時からです。"),),
    )
    write_doc(store, qa, segmenter)
    author = FakeAuthor()
    generate_phrasings(store, sources(tmp_path), author)
    assert (JICHI_ID, "238_4") not in author.asked and ("qa-test", "q1") not in author.asked
    assert len(author.asked) == 3
    state = GeneratedPhrasings(tmp_path / "phrasings").load(JICHI_ID, "地方自治法")
    assert "238_4" in state.hashes and "238_4" not in state.lines  # settled: not asked again


def test_ingest_generates_before_indexing_and_reports(tmp_path: Path) -> None:
    law = tmp_path / "laws" / "999AC0000000001.md"
    law.parent.mkdir()
    law.write_text(
        "# 職員研修法\n\n*（令和七年法律第九百九十九号）*\n\n\n"
        '<a id="第一条"></a>\n**第一条**\n（目的）\nこの法律は、職員の研修に関し必要な事項を定める。\n\n'
        '<a id="第二条"></a>\n**第二条**\n（研修の実施）\n任命権者は、職員の研修を行わなければならない。\n',
        "utf-8",
    )
    store = KnowledgeStore(tmp_path / "kb")
    author = FakeAuthor(fail=["2"])
    ingestor = Ingestor(store=store, workers=1, phrasings=sources(tmp_path), phrasing_author=author)
    stages: list[str] = []
    items, _ = discover([law.parent], collection="laws")
    report = ingestor.ingest(items, progress=lambda stage, done, total: stages.append(stage))
    assert report.generated is not None and report.generated.phrased == 1
    assert ("phrasings (LLM)", "職員研修法 第二条: malformed reply: not JSON") in report.errors
    assert report.phrasings is not None and report.phrasings.lines == 2  # indexed in the same run
    assert stages.index("generate") < stages.index("phrasings")
    rows = store.phrasings.to_arrow().to_pylist()
    assert {(r["article"], r["origin"]) for r in rows} == {("1", "generated")}
    # The next ingest of the unchanged file asks only for the article that failed.
    retry = FakeAuthor()
    again = Ingestor(store=store, workers=1, phrasings=sources(tmp_path), phrasing_author=retry).ingest(items)
    assert again.unchanged == [str(law)] and retry.asked == [("999AC0000000001", "2")]


def test_lines_without_a_record_are_adopted_until_the_text_changes(
    tmp_path: Path, store: KnowledgeStore, segmenter: Segmenter
) -> None:
    generate_phrasings(store, sources(tmp_path), FakeAuthor(), doc_ids=[JICHI_ID])
    (tmp_path / "phrasings" / ".state" / f"{JICHI_ID}.json").unlink()  # the state is lost
    kept = FakeAuthor()
    assert generate_phrasings(store, sources(tmp_path), kept, doc_ids=[JICHI_ID]).cached == 3
    assert kept.asked == []
    write_doc(store, jichi(extra=True, text_238_4="行政財産は、貸し付けることができない。"), segmenter)
    changed = FakeAuthor()
    generate_phrasings(store, sources(tmp_path), changed, doc_ids=[JICHI_ID])
    assert changed.asked == [(JICHI_ID, "238_4")]
