from pathlib import Path

import pytest

from knowledge.documents import ParseError
from knowledge.glossary import DEFAULT_GLOSSARY, Glossary, load_entries
from knowledge.tokenize import Segmenter


@pytest.fixture(scope="module")
def glossary() -> Glossary:
    return Glossary.load(segmenter=Segmenter())


@pytest.mark.parametrize(
    ("question", "trigger", "statute_term"),
    [
        ("職員がアルバイトをしてもいいですか", "アルバイト", "営利"),
        ("会議室を団体に貸せますか", "貸せ", "貸し付け"),
        ("個人情報が流出した", "流出", "漏洩"),
        ("子どもの医療費", "子ども", "児童"),
        ("罰則はありますか", "罰則", "罰金"),
    ],
)
def test_everyday_words_expand_to_statute_wording(
    glossary: Glossary, question: str, trigger: str, statute_term: str
) -> None:
    expansions = glossary.expand(question)
    found = {e.trigger: e for e in expansions}
    assert trigger in found
    assert statute_term in found[trigger].terms


def test_questions_in_statute_wording_need_no_expansion(glossary: Glossary) -> None:
    assert glossary.expand("行政手続法の審査基準") == []


def test_every_entry_yields_search_terms(glossary: Glossary) -> None:
    entries = load_entries(DEFAULT_GLOSSARY)
    assert len(entries) == len(glossary.entries) >= 60
    for entry, terms in zip(glossary.entries, glossary._terms, strict=True):
        assert terms, entry


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("say: x", "list of entries"),
        ("- say: [副業]\n", "exactly the keys"),
        ("- say: []\n  statute: [営利企業]\n", "'say' must be a non-empty list"),
        ("- say: [副業]\n  statute: [営利企業]\n- say: [貸す]\n  statute: ''\n", "entry 2"),
        ("- say: [副業\n", "cannot read glossary"),
    ],
)
def test_malformed_glossary_names_file_and_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(ParseError, match=message) as info:
        load_entries(path)
    assert str(path) in str(info.value)


def test_admin_glossary_extends_the_default(tmp_path: Path) -> None:
    extra = tmp_path / "city.yaml"
    extra.write_text("- say: [ごみ屋敷]\n  statute: [廃棄物, 不適正管理]\n", "utf-8")
    g = Glossary.load([DEFAULT_GLOSSARY, extra], segmenter=Segmenter())
    assert [e.trigger for e in g.expand("ごみ屋敷への対応")] == ["ごみ屋敷"]
