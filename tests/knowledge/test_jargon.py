"""Staff abbreviations read as their full form (knowledge/jargon.py, knowledge/data/jargon.yaml)."""

from pathlib import Path

import pytest

from knowledge.citations import load_abbreviations
from knowledge.documents import ParseError
from knowledge.jargon import DEFAULT_JARGON, Jargon, load_entries
from knowledge.phrasings import SHIPPED_DIR
from knowledge.tokenize import Segmenter


@pytest.fixture(scope="module")
def jargon(segmenter: Segmenter) -> Jargon:
    return Jargon.load(segmenter=segmenter, protected=load_abbreviations())


@pytest.mark.parametrize(
    ("question", "read_as"),
    [
        ("生保の受給者が亡くなった", "生活保護の受給者が亡くなった"),
        ("随契で発注したい", "随意契約で発注したい"),
        ("固資税の納税通知書", "固定資産税の納税通知書"),
        ("マイナカードの交付窓口", "マイナンバーカードの交付窓口"),
        ("会計年度職員にも期末手当", "会計年度任用職員にも期末手当"),
        ("特児扶手と児手は併給できる？", "特別児童扶養手当と児童手当は併給できる？"),
    ],
)
def test_a_short_form_is_read_as_its_full_form(jargon: Jargon, question: str, read_as: str) -> None:
    assert jargon.expand(question) == read_as


@pytest.mark.parametrize(
    "question",
    [
        "衛生保健の担当課",  # 生保 inside another word
        "指定管理者の選定",  # the full form is already written
        "生保法78条の徴収金",  # a law's abbreviation, which the citation finder knows
        "生活保護の受給者",  # nothing to read
    ],
)
def test_nothing_else_is_rewritten(jargon: Jargon, question: str) -> None:
    assert jargon.expand(question) == question


def test_no_short_form_the_shipped_phrasings_already_use_is_listed() -> None:
    """Replacing a short form the staff phrasings use as much as the full one (国保, 住基, 選管) would miss
    their lines; such a short form already matches as written."""
    lines = "".join(path.read_text("utf-8") for path in sorted(SHIPPED_DIR.glob("*.yaml")))
    for entry in load_entries(DEFAULT_JARGON):
        for short in entry.short:
            alone = lines.count(short) - (lines.count(entry.full) if entry.full.startswith(short) else 0)
            assert alone == 0 or alone < lines.count(entry.full), (short, alone, lines.count(entry.full))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("short: x", "list of entries"),
        ("- short: [生保]\n", "exactly the keys"),
        ("- short: []\n  full: 生活保護\n", "'short' must be a non-empty list"),
        ("- short: [生保]\n  full: 生活保護\n- short: [随契]\n  full: ''\n", "entry 2"),
        ("- short: [生活保護]\n  full: 生活保護\n", "equals its full form"),
        ("- short: [生保\n", "cannot read jargon"),
    ],
)
def test_a_malformed_jargon_file_names_file_and_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "j.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(ParseError, match=message) as info:
        load_entries(path)
    assert str(path) in str(info.value)


def test_an_admins_file_extends_the_shipped_one(tmp_path: Path, segmenter: Segmenter) -> None:
    extra = tmp_path / "city.yaml"
    extra.write_text("- short: [ごみ屋敷]\n  full: 不適正管理の家屋\n", "utf-8")
    both = Jargon.load([DEFAULT_JARGON, extra], segmenter=segmenter)
    assert both.expand("生保世帯のごみ屋敷") == "生活保護世帯の不適正管理の家屋"
