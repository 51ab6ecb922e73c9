"""The law model: which held law a question is about, learned from the phrasing and words lines; and how
an ingest keeps it and the article model (tests/knowledge/test_article_model.py) trained."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.law_model import LawModel, examples_digest, train
from knowledge.phrasing_index import ARTICLE_MODEL, LAW_MODEL, index_phrasings
from knowledge.phrasings import load_file
from knowledge.store import KnowledgeStore
from knowledge.tokenize import Segmenter
from tests.knowledge.docs import JICHI_ID, jichi, koumuin, write_doc

CIVIL_SERVICE = [
    "職員が休日に副業をしてもいい？",
    "職員のアルバイトには任命権者の許可がいる",
    "職員が家業の農業を手伝うのは副業になる？",
    "職員の兼業の許可の基準",
    "職員が講演料をもらうのは副業？",
    "職員が選挙運動を手伝うのは政治的行為の制限に当たる？",
]
PROPERTY = [
    "庁舎の空きスペースを民間に貸せる？",
    "行政財産の貸付けと使用許可",
    "庁舎の屋上を携帯電話の基地局に貸したい",
    "市有地を売り払うには議会の議決がいる？",
    "公の施設の使用料を条例で決める",
    "庁舎の食堂の使用料はいくら取れる？",
]
EXAMPLES = [("koumuin", t) for t in CIVIL_SERVICE] + [("jichi", t) for t in PROPERTY]


@pytest.fixture(scope="module")
def model() -> LawModel:
    return train(EXAMPLES)


def best(model: LawModel, question: str) -> str:
    found = model.log_probabilities(question)
    return max(found, key=found.__getitem__)


def test_a_question_in_other_words_goes_to_the_law_whose_lines_share_its_pieces(model: LawModel) -> None:
    assert best(model, "うちの職員が週末に副業したいと言っている") == "koumuin"
    assert best(model, "庁舎の空いている部屋を業者に貸してもいい？") == "jichi"
    assert set(model.log_probabilities("何の話？")) == {"jichi", "koumuin"}


def test_a_stored_model_answers_as_the_trained_one(model: LawModel) -> None:
    again = LawModel.from_bytes(model.to_bytes())
    question = "職員の兼業は許可制？"
    assert again.log_probabilities(question) == pytest.approx(model.log_probabilities(question))
    assert again.digest == model.digest == examples_digest(EXAMPLES)


def test_examples_of_one_law_teach_nothing() -> None:
    with pytest.raises(ValueError, match="two laws"):
        train([("jichi", t) for t in PROPERTY])


def lines_file(tmp_path: Path, doc_id: str, title: str, article: str, lines: list[str]) -> Path:
    path = tmp_path / f"{doc_id}.yaml"
    body = "".join(f"    - {line}\n" for line in lines)
    path.write_text(f'doc_id: {doc_id}\ntitle: {title}\narticles:\n  "{article}":\n{body}', encoding="utf-8")
    return path


def test_an_ingest_trains_the_models_only_when_the_lines_change(tmp_path: Path) -> None:
    segmenter = Segmenter()
    store = KnowledgeStore(tmp_path / "kb")
    write_doc(store, jichi(), segmenter)
    write_doc(store, koumuin(), segmenter)
    property_file = load_file(lines_file(tmp_path, JICHI_ID, "地方自治法", "238_4", PROPERTY), origin="admin")
    service_path = lines_file(tmp_path, "325AC0000000261", "地方公務員法", "38", CIVIL_SERVICE)
    service_file = load_file(service_path, origin="admin")
    stages: list[str] = []

    first = index_phrasings(
        store, [property_file, service_file], segmenter=segmenter, progress=lambda s, d, t: stages.append(s)
    )
    assert (first.law_model, first.law_model_laws) == ("trained", 2) and LAW_MODEL in stages
    assert (first.article_model, first.article_model_articles) == ("trained", 2) and ARTICLE_MODEL in stages
    trained, articles = store.law_model(), store.article_model()
    assert trained is not None and best(trained, "職員が週末に副業したい") == "325AC0000000261"
    assert articles is not None and articles.articles == (f"{JICHI_ID}:238_4", "325AC0000000261:38")
    read = articles.read("職員が週末に副業したい").log_probabilities(articles.articles)
    assert read[1] > read[0]

    again = index_phrasings(store, [property_file, service_file], segmenter=segmenter)
    assert (again.law_model, again.article_model) == ("unchanged", "unchanged")
    reread = KnowledgeStore(tmp_path / "kb")  # another reader loads the stored files
    assert reread.law_model().digest == trained.digest  # type: ignore[union-attr]
    assert reread.article_model().digest == articles.digest  # type: ignore[union-attr]

    service_path.write_text(service_path.read_text("utf-8") + "    - 職員の副業の届出\n", encoding="utf-8")
    more = load_file(service_path, origin="admin")
    changed = index_phrasings(store, [property_file, more], segmenter=segmenter)
    assert (changed.law_model, changed.article_model) == ("trained", "trained")
    retrained, rearticled = store.law_model(), store.article_model()
    assert retrained is not None and retrained.digest != trained.digest
    assert rearticled is not None and rearticled.digest != articles.digest

    alone = index_phrasings(store, [property_file], segmenter=segmenter)  # one law, one article
    assert (alone.law_model, store.law_model()) == ("none", None)
    assert (alone.article_model, store.article_model()) == ("none", None)
    assert not (tmp_path / "kb" / "law_model.npz").exists()
    assert not (tmp_path / "kb" / "article_model.npz").exists()


@pytest.mark.parametrize("name", ["law_model", "article_model"])
def test_an_unreadable_stored_model_is_left_out_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / f"{name}.npz").write_bytes(b"not a model")
    with caplog.at_level("WARNING"):
        assert getattr(KnowledgeStore(tmp_path / "kb"), name)() is None
    assert f"{name}.npz cannot be read" in caplog.text
