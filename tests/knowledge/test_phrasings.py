"""Phrasing files: the format, its errors, the shipped files against the real laws, and their index."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from knowledge.documents import ParseError
from knowledge.phrasing_index import index_phrasings, stored_articles
from knowledge.phrasing_review import coverage_report
from knowledge.phrasings import (
    SHIPPED_DIR,
    PhrasingSources,
    coverage,
    dump_file,
    is_deleted,
    load_file,
    unknown_articles,
)
from knowledge.reader import PhrasingReader
from knowledge.store import ARTICLE_WORDS, KnowledgeStore
from knowledge.tokenize import Segmenter
from tests.knowledge.docs import JICHI_ID, jichi, write_doc

GOOD = """\
doc_id: 322AC0000000067
title: 地方自治法
articles:
  "238_4":  # 第二百三十八条の四
    - 庁舎の空きスペースを民間に貸せる？
    - ＡＢＣ　全角   の空白
  "225":
    - 公の施設の使用料
"""
LONG = "あ" * 90


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


WORDS = GOOD + """\
words:
  "238_4": 庁舎の一部を貸す・コンビニ出店・屋上貸し
"""


def test_everyday_words_are_read_apart_from_the_lines(tmp_path: Path) -> None:
    f = load_file(write(tmp_path, WORDS), origin="admin")
    assert f.words == {"238_4": "庁舎の一部を貸す・コンビニ出店・屋上貸し"}
    assert f.line_count == 3  # not a searched line
    [words] = f.article_words()
    assert (words.doc_id, words.article, words.origin) == (JICHI_ID, "238_4", "admin")
    assert load_file(write(tmp_path, GOOD), origin="admin").words == {}
    # written back by the exporter's format, read back the same
    dumped = dump_file(JICHI_ID, "地方自治法", f.articles, words=f.words)
    again = load_file(write(tmp_path, dumped, "d.yaml"), origin="x")
    assert (again.articles, again.words) == (f.articles, f.words)


def test_a_file_is_read_normalised(tmp_path: Path) -> None:
    f = load_file(write(tmp_path, GOOD), origin="admin")
    assert (f.doc_id, f.title, f.origin) == (JICHI_ID, "地方自治法", "admin")
    assert f.articles["238_4"] == ("庁舎の空きスペースを民間に貸せる?", "ABC 全角 の空白")
    assert f.line_count == 3
    ids = [p.phrase_id for p in f.phrasings()]
    assert len(set(ids)) == 3
    again = load_file(write(tmp_path, GOOD, "again.yaml"), origin="x")
    assert ids == [p.phrase_id for p in again.phrasings()]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("doc_id: x\narticles: [\n", "not valid YAML"),
        ("- a\n- b\n", "mapping with doc_id"),
        ("doc_id: 1\narticles: {'1': [a]}\n", "'doc_id' must be"),
        ("doc_id: x\narticles: {}\n", "'articles' must map"),
        ("doc_id: x\nextra: 1\narticles: {'1': [a]}\n", "unknown keys ['extra']"),
        ("doc_id: x\narticles:\n  38:\n    - 副業\n", ':3: article key 38 must be quoted text, e.g. "38"'),
        ("doc_id: x\narticles:\n  '38': []\n", ":3: article 38: needs a list of lines"),
        ("doc_id: x\narticles:\n  '1': [a]\n  '38': ['']\n", ":4: article 38: every line must be non-empty"),
        (f"doc_id: x\narticles:\n  '38': [{LONG}]\n", "longer than 80 characters"),
        ("doc_id: x\narticles:\n  '38': [a, b, c, d, e, f, g, h, i, j, k]\n", "at most 10 lines"),
        ("doc_id: x\narticles: {'1': [a]}\nwords: [a]\n", "'words' must map article keys"),
        ("doc_id: x\narticles: {'1': [a]}\nwords:\n  38: 副収入\n", ':4: article key 38 must be quoted'),
        ("doc_id: x\narticles: {'1': [a]}\nwords:\n  '38': ['a']\n", ":4: words of article 38: must be one"),
        (f"doc_id: x\narticles: {{'1': [a]}}\nwords:\n  '38': {LONG}\n", ":4: words of article 38: longer"),
    ],
)
def test_a_broken_file_names_the_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ParseError) as caught:
        load_file(path, origin="admin")
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)


def test_sources_report_broken_files_and_keep_the_rest(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD, "good.yaml")
    bad = write(tmp_path, "doc_id: x\narticles: [\n", "bad.yaml")
    files, errors = PhrasingSources(shipped=False, admin=(good, bad, tmp_path / "missing")).load()
    assert [f.path for f in files] == [good]
    assert len(errors) == 2
    assert str(bad) in errors[0]
    assert "missing" in errors[1]


def test_coverage_counts_articles_with_lines(tmp_path: Path) -> None:
    f = load_file(write(tmp_path, GOOD), origin="admin")
    rows = coverage([f], {JICHI_ID: ("地方自治法", ["225", "238_4", "242", "244"])})
    assert [(r.covered, r.articles, r.lines) for r in rows] == [(2, 4, 3)]
    assert rows[0].share == 0.5
    assert unknown_articles([f], {JICHI_ID: {"225"}}) == [(f, "238_4")]


def test_the_index_follows_the_files_and_the_stored_articles(tmp_path: Path) -> None:
    segmenter = Segmenter()
    store = KnowledgeStore(tmp_path / "kb")
    write_doc(store, jichi(), segmenter)
    good = load_file(write(tmp_path, GOOD), origin="admin")
    first = index_phrasings(store, [good], segmenter=segmenter)
    assert (first.lines, first.added, first.removed, first.unknown) == (3, 3, 0, [])
    again = index_phrasings(store, [good], segmenter=segmenter)
    assert (again.added, again.removed) == (0, 0)  # unchanged lines are neither segmented nor written
    fewer = load_file(write(tmp_path, GOOD.replace('  "225":\n    - 公の施設の使用料\n', "")), origin="admin")
    changed = index_phrasings(store, [fewer], segmenter=segmenter)
    assert (changed.added, changed.removed) == (0, 1)
    ghost = load_file(write(tmp_path, GOOD.replace('"225"', '"999"'), "ghost.yaml"), origin="admin")
    other_text = GOOD.replace(JICHI_ID, "999AC0000000001")
    other = load_file(write(tmp_path, other_text, "other.yaml"), origin="admin")
    report = index_phrasings(store, [ghost, other], segmenter=segmenter)
    assert report.unknown == [f"{ghost.path}: article 999"]
    assert report.other_documents == 1
    assert stored_articles(store)[JICHI_ID] == {"225", "238_4", "suppl0_1"}


def test_everyday_words_are_stored_apart_and_read_for_the_vocabulary(tmp_path: Path) -> None:
    segmenter = Segmenter()
    store = KnowledgeStore(tmp_path / "kb")
    write_doc(store, jichi(), segmenter)
    shipped = load_file(write(tmp_path, WORDS, "shipped.yaml"), origin="shipped")
    report = index_phrasings(store, [shipped], segmenter=segmenter)
    assert (report.lines, report.words) == (3, 1)
    assert len(store.phrasings.to_arrow()) == 3 and len(store.article_words.to_arrow()) == 1
    cid = f"{JICHI_ID}#238_4"
    assert store.words_reader is not None and "コンビニ" in store.words_reader.vocabulary([cid])[cid]
    assert store.phrase_reader is not None and "コンビニ" not in store.phrase_reader.vocabulary([cid])[cid]
    in_lancedb = PhrasingReader(store.uri, ARTICLE_WORDS, store.article_words.version, cache_rows=0)
    assert in_lancedb.vocabulary([cid]) == store.words_reader.vocabulary([cid])
    # an admin's words for the same article replace the shipped ones; words for no article are reported
    admin_text = WORDS.replace("庁舎の一部を貸す・コンビニ出店・屋上貸し", "携帯基地局・電柱").replace(
        '"225":', '"999":'
    )
    admin = load_file(write(tmp_path, admin_text + '  "998": 幽霊\n', "admin.yaml"), origin="admin")
    again = index_phrasings(store, [shipped, admin], segmenter=segmenter)
    assert again.words == 1 and f"{admin.path}: article 998" in again.unknown
    assert "電柱" in store.words_reader.vocabulary([cid])[cid]
    assert "コンビニ" not in store.words_reader.vocabulary([cid])[cid]


def test_every_shipped_phrasing_names_an_article_of_its_law(corpus_data_dir: Path) -> None:
    """The shipped files against the real laws: no line (or words) for an article the law does not
    have, every main-provision article of every shipped law covered, each file's title that of its
    law, and the coverage table in the shipped README true."""
    store = KnowledgeStore(corpus_data_dir)
    files, errors = PhrasingSources().load()
    assert errors == []
    assert {f.path.parent for f in files} == {SHIPPED_DIR}
    assert unknown_articles(files, stored_articles(store)) == []
    titles = {doc_id: doc.title for doc_id, doc in store.documents().items()}
    assert {f.doc_id: f.title for f in files} == {f.doc_id: titles[f.doc_id] for f in files}
    shipped = {f.doc_id for f in files}
    report = [line for line in coverage_report(store, files) if line.doc_id in shipped]
    assert [(r.title, r.covered, r.articles) for r in report if r.covered < r.articles] == []
    table = {
        m["doc_id"]: (int(m["covered"]), int(m["articles"]), int(m["lines"].replace(",", "")))
        for m in re.finditer(
            r"^\| [^|]+ \| (?P<doc_id>\S+) \| (?P<covered>\d+) / (?P<articles>\d+) \| (?P<lines>[\d,]+) \|$",
            (SHIPPED_DIR / "README.md").read_text("utf-8"),
            re.MULTILINE,
        )
    }
    assert table == {r.doc_id: (r.covered, r.articles, r.lines) for r in report}
    # … and every article with lines has its everyday words, none without
    assert [(f.doc_id, k) for f in files for k in f.articles.keys() ^ f.words.keys()] == []


@pytest.mark.parametrize(
    ("text", "deleted"),
    [
        ("削除", True),
        ("　削除。", True),
        ("削除（昭46直審（所）19改正）", True),  # a circular's deleted item keeps its history
        ("\u2003削除（昭46直審（所）19、平3直法6-1改正、平13課法8-6削除）", True),
        ("（削除）（平29課資2－14）", True),
        ("削除する。", False),
        ("削除されたものとみなす。（注）", False),
        ("第三条を削除する。（平成十一年法律第八十七号）", False),
    ],
)
def test_an_article_is_deleted_when_it_says_only_that(text: str, deleted: bool) -> None:
    assert is_deleted(text) is deleted
