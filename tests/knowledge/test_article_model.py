"""The article model: which article a question is about, learned from the phrasing and words lines, and
how an ingest keeps it trained."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from knowledge import article_model
from knowledge.article_model import ARTICLES as RECIPE
from knowledge.article_model import FLOOR, ArticleModel, digest, train
from knowledge.ngrams import NgramSpace, ngram_counts, question_ngrams
from knowledge.phrasing_index import ARTICLE_MODEL, index_phrasings
from knowledge.phrasings import load_file
from knowledge.store import KnowledgeStore
from knowledge.tokenize import Segmenter
from tests.knowledge.docs import JICHI_ID, jichi, koumuin, write_doc

# Neighbouring articles of one law share most of their words; what tells them apart is a few.
BIRTH_DEADLINE = [
    "出生の届出は十四日以内にしなければならない",
    "赤ちゃんが生まれたら出生届は何日以内？",
    "出生届の届出期間を過ぎたら",
    "出生届の期限はいつまで",
]
BIRTH_PLACE = [
    "出生の届出は出生地でもすることができる",
    "出生届はどこの役所に出せばいい？",
    "里帰り出産の出生届を生まれた町の役場に出せる？",
    "出生届の届出地",
]
DEATH_DEADLINE = [
    "死亡の届出は死亡の事実を知った日から七日以内",
    "死亡届は亡くなってから何日以内に出す？",
    "死亡届の届出期間",
    "死亡届の期限はいつまで",
]
EXAMPLES = (
    [("koseki:49", t) for t in BIRTH_DEADLINE]
    + [("koseki:51", t) for t in BIRTH_PLACE]
    + [("koseki:86", t) for t in DEATH_DEADLINE]
)
ARTICLES = ["koseki:49", "koseki:51", "koseki:86"]


@pytest.fixture(scope="module")
def model() -> ArticleModel:
    return train(EXAMPLES)


def best(model: ArticleModel, question: str) -> str:
    found = model.read(question).log_probabilities(ARTICLES)
    return ARTICLES[max(range(len(ARTICLES)), key=found.__getitem__)]


def test_neighbouring_articles_are_told_apart_by_the_words_that_differ(model: ArticleModel) -> None:
    assert best(model, "子どもが生まれた。出生届の期限は何日？") == "koseki:49"
    assert best(model, "出生届は生まれた病院のある市に出してもいい？") == "koseki:51"
    assert best(model, "父が亡くなった。死亡届は何日以内？") == "koseki:86"


def test_the_log_probabilities_are_a_distribution_and_an_unknown_article_gets_the_floor(
    model: ArticleModel,
) -> None:
    read = model.read("出生届の期限")
    assert sum(math.exp(p) for p in read.log_probabilities(ARTICLES)) == pytest.approx(1.0, abs=1e-4)
    assert read.log_probabilities(["koseki:999"]) == [math.log(FLOOR)]
    assert len(model.read("").log_probabilities(ARTICLES)) == 3  # no known n-gram: still an answer


def test_the_most_probable_articles_come_in_order_of_probability(model: ArticleModel) -> None:
    read = model.read("赤ちゃんの出生届は何日以内？")
    order = read.most_probable(3)
    assert order[0] == "koseki:49" and sorted(order) == sorted(ARTICLES)
    chances = read.log_probabilities(order)
    assert chances == sorted(chances, reverse=True)
    assert read.most_probable(1) == order[:1]
    assert read.most_probable(10) == order and read.most_probable(0) == []


def test_a_stored_model_answers_as_the_trained_one(model: ArticleModel) -> None:
    again = ArticleModel.from_bytes(model.to_bytes())
    question = "出生届はどこに出す？"
    assert again.read(question).log_probabilities(ARTICLES) == pytest.approx(
        model.read(question).log_probabilities(ARTICLES), abs=1e-3
    )
    assert again.digest == model.digest == digest(EXAMPLES)


def test_training_is_deterministic_and_the_digest_follows_the_lines() -> None:
    first, second = train(EXAMPLES), train(list(reversed(EXAMPLES)))  # lines in another order: the same model
    assert first.digest == second.digest
    question = "出生届の期限"
    assert second.read(question).scores.tolist() == first.read(question).scores.tolist()
    assert train(EXAMPLES).read(question).scores.tolist() == first.read(question).scores.tolist()
    assert digest([*EXAMPLES, ("koseki:49", "出生届の届出期間の計算")]) != first.digest


WORDS = "申請届出許可期限費用負担審査基準職員議会条例規則予算決算契約入札監査"


def made_up_lines(article: int, count: int) -> list[tuple[str, str]]:
    """``count`` lines of one made-up article: a few characters of its own, then any of ``WORDS``."""
    draw = np.random.default_rng(article)
    own = "".join(draw.choice(list(WORDS), 4))
    return [(f"law:{article}", own[: 2 + k % 3] + "".join(draw.choice(list(WORDS), 6))) for k in range(count)]


def test_a_few_added_lines_leave_the_rest_of_the_model_where_it_was() -> None:
    # An admin's file of a few lines must not re-deal the model: each random number of training is drawn
    # from what it is for (an n-gram, an article, a line), not from one stream that a line more shifts.
    # Measured the other way, adding the lines moves the readings as much as another seed does.
    recipe = article_model.Recipe("test", dim=16, members=1, epochs=8, min_steps=100, batch=64)
    lines = [line for article in range(40) for line in made_up_lines(article, 15)]
    articles = [f"law:{article}" for article in range(40)]
    questions = [made_up_lines(article, 16)[-1][1] for article in range(40)]  # a line not trained on

    def readings(model: ArticleModel) -> np.ndarray:
        found = np.array([model.read(q).log_probabilities(articles) for q in questions])
        return found - found.mean(axis=1, keepdims=True)  # the articles' order, whatever else is added

    before = readings(train(lines, recipe))
    moved = np.abs(readings(train(lines + made_up_lines(99, 3), recipe)) - before).mean()
    reseeded = np.abs(readings(train(lines, dataclasses.replace(recipe, seed=7))) - before).mean()
    assert moved < 0.25 * reseeded


def test_few_lines_get_more_passes_than_many() -> None:
    assert RECIPE.passes(len(EXAMPLES)) > RECIPE.passes(24_000) >= 8
    assert RECIPE.passes(24_000) == RECIPE.members * RECIPE.member_passes(24_000)


def test_the_model_reads_as_the_mean_of_its_members(model: ArticleModel) -> None:
    examples = sorted(EXAMPLES)  # the order training reads them in
    counts = [ngram_counts(text) for _, text in examples]
    space = NgramSpace.fit(counts)
    x = space.matrix(counts).astype(np.float32)
    target = np.array([sorted(ARTICLES).index(a) for a, _ in examples])
    keys = article_model._Keys.of(space, sorted(ARTICLES), examples)
    members = [
        article_model._member(x, target, keys, RECIPE, RECIPE.seed + m, lambda: None)
        for m in range(RECIPE.members)
    ]
    columns, values = space.vector(question_ngrams("出生届の期限は何日？"))
    each = [m["weights"] @ (values @ m["embedding"][columns]) + m["bias"] for m in members]
    assert len({tuple(np.round(e, 3)) for e in each}) == len(members)  # each member reads it its own way
    whole = model.read("出生届の期限は何日？").scores
    assert whole == pytest.approx(np.mean(each, axis=0), abs=1e-4)


def test_examples_of_one_article_teach_nothing() -> None:
    with pytest.raises(ValueError, match="two articles"):
        train([("koseki:49", t) for t in BIRTH_DEADLINE])


CIVIL_SERVICE = [
    "職員が休日に副業をしてもいい？",
    "職員のアルバイトには任命権者の許可がいる",
    "職員が家業の農業を手伝うのは副業になる？",
    "職員の兼業の許可の基準",
]
PROPERTY = [
    "庁舎の空きスペースを民間に貸せる？",
    "行政財産の貸付けと使用許可",
    "庁舎の屋上を携帯電話の基地局に貸したい",
    "庁舎の食堂の使用料はいくら取れる？",
]


def lines_file(tmp_path: Path, doc_id: str, title: str, article: str, lines: list[str]) -> Path:
    path = tmp_path / f"{doc_id}.yaml"
    body = "".join(f"    - {line}\n" for line in lines)
    path.write_text(f'doc_id: {doc_id}\ntitle: {title}\narticles:\n  "{article}":\n{body}', encoding="utf-8")
    return path


def test_an_ingest_trains_the_model_only_when_the_lines_change(tmp_path: Path) -> None:
    segmenter = Segmenter()
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "law_model.npz").write_bytes(b"an earlier version's model")
    store = KnowledgeStore(tmp_path / "kb")
    write_doc(store, jichi(), segmenter)
    write_doc(store, koumuin(), segmenter)
    assert not (tmp_path / "kb" / "law_model.npz").exists()  # the ingest leaves no obsolete file
    property_file = load_file(lines_file(tmp_path, JICHI_ID, "地方自治法", "238_4", PROPERTY), origin="admin")
    service_path = lines_file(tmp_path, "325AC0000000261", "地方公務員法", "38", CIVIL_SERVICE)
    service_file = load_file(service_path, origin="admin")
    stages: list[str] = []

    first = index_phrasings(
        store, [property_file, service_file], segmenter=segmenter, progress=lambda s, d, t: stages.append(s)
    )
    assert (first.article_model, first.article_model_articles) == ("trained", 2) and ARTICLE_MODEL in stages
    trained = store.article_model()
    assert trained is not None and trained.articles == (f"{JICHI_ID}:238_4", "325AC0000000261:38")
    read = trained.read("職員が週末に副業したい").log_probabilities(trained.articles)
    assert read[1] > read[0]

    again = index_phrasings(store, [property_file, service_file], segmenter=segmenter)
    assert again.article_model == "unchanged"
    reread = KnowledgeStore(tmp_path / "kb").article_model()  # another reader loads the stored file
    assert reread is not None and reread.digest == trained.digest

    service_path.write_text(service_path.read_text("utf-8") + "    - 職員の副業の届出\n", encoding="utf-8")
    more = load_file(service_path, origin="admin")
    changed = index_phrasings(store, [property_file, more], segmenter=segmenter)
    assert changed.article_model == "trained"
    retrained = store.article_model()
    assert retrained is not None and retrained.digest != trained.digest

    alone = index_phrasings(store, [property_file], segmenter=segmenter)  # one article
    assert (alone.article_model, store.article_model()) == ("none", None)
    assert not (tmp_path / "kb" / "article_model.npz").exists()


@pytest.mark.parametrize("name", ["article_model", "absent_model"])  # knowledge/absent_model.py's too
def test_an_unreadable_stored_model_is_left_out_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / f"{name}.npz").write_bytes(b"not a model")
    with caplog.at_level("WARNING"):
        assert getattr(KnowledgeStore(tmp_path / "kb"), name)() is None
    assert f"{name}.npz cannot be read" in caplog.text
