"""Which article a question is about, learned from the staff phrasings and everyday words.

The first stage matches words; neighbouring articles of one law often share most of them (出生届's
deadline in 戸籍法49条, its place in 51条, its content in 25条), and BM25 cannot learn which words tell
them apart. This model does: each phrasing line and words line is an example of its article, and a
softmax over all articles is fitted on the lines' character n-grams (sublinear tf × idf, unit length:
knowledge/ngrams.py) through a small shared embedding, as fastText classifies text:

    P(article | text) = softmax(W · (x · E) + b)

E maps each n-gram to ``dim`` numbers (``Recipe``), so an n-gram the lines of one article use and its
neighbours' do not is learned as telling them apart, and what n-grams share carries over to phrasings the
lines do not contain word for word; and since every article's neighbours, in its law and in the others,
are its rivals, it also says which law a question is about. The second stage reads each candidate's
log-probability (knowledge/rerank.py), the decision how probably the question reads as any article at all
(knowledge/sufficiency.py). Trained at ingest when the lines change (knowledge/phrasing_index.py), a few
passes of mini-batch Adam with n-gram dropout; pure functions here.

One such model depends on the seed that starts it more than one would like (on the staff question sets,
the right article first moves by two points from one seed to the next), so ``ARTICLES.members`` are
trained apart, each from its own seed, and their scores averaged: held as one model whose embedding and
output rows are the members' side by side (the output rows and biases divided by their number), so reading
a text is one product as before.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from knowledge.ngrams import NgramSpace, ngram_counts, question_ngrams

if TYPE_CHECKING:
    from scipy import sparse

FILE_NAME = "article_model.npz"
DRAWN = "keyed"  # how training draws its random numbers (``_Keys``); part of a recipe's version
FLOOR = 1e-6  # the smallest probability whose log is read (an article's; a law not held's by the decision)


@dataclass(frozen=True)
class Recipe:
    """How a model of this kind is trained. The absent-law model (knowledge/absent_model.py) trains one
    with its own recipe."""

    name: str  # what it tells apart, part of ``version``
    dim: int  # each member's embedding size
    members: int  # members of the average, each from its own seed
    epochs: int  # passes over the lines
    min_steps: int  # … and more passes over fewer lines (an admin's few files), so that they are learned too
    batch: int = 256
    rate: float = 0.005  # Adam's step size
    dropout: float = 0.2  # share of a line's n-grams left out at each pass: no one n-gram carries an output
    seed: int = 0  # member m starts from seed + m: the same lines give the same model

    @property
    def version(self) -> str:
        """A change of any part retrains on the next ingest."""
        return (
            f"{self.name}:{self.dim}x{self.members}:{self.epochs}:{self.batch}:{self.min_steps}:"
            f"{self.rate}:{self.dropout}:{self.seed}:{DRAWN}"
        )

    def member_passes(self, examples: int) -> int:
        """How many passes over ``examples`` lines the training of one member makes."""
        return max(self.epochs, math.ceil(self.min_steps / max(math.ceil(examples / self.batch), 1)))

    def passes(self, examples: int) -> int:
        """How many passes over ``examples`` lines training makes, all members together."""
        return self.members * self.member_passes(examples)


# Members of the average: measured with the second stage refitted for each (benchmarks/rerank.py), the
# eight holdouts' right article first 0.782 with one, 0.818 and 0.810 with three (two sets of seeds),
# 0.822 with five at nearly twice the training time; one member of 192 dimensions read 0.809 with one
# seed and 0.782 with another. docs/retrieval-history.md, *Since def2ebb*. Eight passes over the shipped
# 24,488 lines are 8 × 96 steps.
ARTICLES = Recipe("article", dim=64, members=3, epochs=8, min_steps=750)


@dataclass(frozen=True, eq=False)  # arrays: compare digests
class ArticleModel:
    """The fitted model: the n-grams it reads, their embedding, one output row per article."""

    articles: tuple[str, ...]  # "doc_id:article", sorted
    space: NgramSpace
    embedding: npt.NDArray[np.float32]  # len(space.ids) × (dim × members)
    weights: npt.NDArray[np.float32]  # len(articles) × (dim × members)
    bias: npt.NDArray[np.float32]
    digest: str  # digest() of what it was trained on

    @cached_property
    def place(self) -> dict[str, int]:
        """"doc_id:article" → its row."""
        return {a: n for n, a in enumerate(self.articles)}

    def read(self, text: str) -> ArticleReading:
        """What the model makes of ``text``: every article's score, read per candidate."""
        columns, values = self.space.vector(question_ngrams(text))
        scores = self.weights @ (values @ self.embedding[columns]) + self.bias
        top = float(scores.max())
        log_total = _log_sum_exp(scores, top)
        return ArticleReading(scores, top, log_total, self.place, self.articles)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            articles=np.array(self.articles),
            ids=self.space.ids,
            idf=self.space.idf,
            embedding=self.embedding.astype(np.float16),  # half the file; the scores move by < 1e-3
            weights=self.weights,
            bias=self.bias,
            digest=np.array(self.digest),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ArticleModel:
        with np.load(io.BytesIO(data), allow_pickle=False) as saved:
            return cls(
                articles=tuple(str(a) for a in saved["articles"]),
                space=NgramSpace(saved["ids"], saved["idf"]),
                embedding=saved["embedding"].astype(np.float32),
                weights=saved["weights"],
                bias=saved["bias"],
                digest=str(saved["digest"]),
            )


@dataclass(frozen=True, eq=False)
class ArticleReading:
    """What the model makes of one text, read per candidate (one matrix product per question)."""

    scores: npt.NDArray[np.float32]  # one per article of the model
    top: float  # the largest score
    log_total: float  # log of the softmax's denominator
    place: Mapping[str, int]  # "doc_id:article" → its score's index
    articles: Sequence[str]  # "doc_id:article" of each score (place inverted)

    @property
    def peak(self) -> float:
        """The log-probability of the article the text most reads as: near 0 when its lines say what the
        text says, far below when the text is like no article's lines."""
        return self.top - self.log_total

    def most_probable(self, n: int) -> list[str]:
        """The ``n`` articles ("doc_id:article") the text most probably reads as, most probable first."""
        n = min(n, len(self.scores))
        if n <= 0:
            return []
        best = np.argpartition(-self.scores, n - 1)[:n]
        return [self.articles[int(i)] for i in best[np.argsort(-self.scores[best], kind="stable")]]

    def log_share(self, outputs: npt.NDArray[np.bool_]) -> float:
        """The log-probability that the text is about any of the ``outputs`` marked (one flag per score),
        no lower than the floor's."""
        if not outputs.any():
            return math.log(FLOOR)
        chosen = self.scores[outputs]
        return max(_log_sum_exp(chosen, float(chosen.max())) - self.log_total, math.log(FLOOR))

    def log_probabilities(self, articles: Sequence[str]) -> list[float]:
        """The log-probability that the text is about each of ``articles`` ("doc_id:article"); one the
        model does not know gets the floor."""
        floor = math.log(FLOOR)
        return [
            max(float(self.scores[self.place[a]]) - self.log_total, floor) if a in self.place else floor
            for a in articles
        ]


def _log_sum_exp(scores: npt.NDArray[np.float32], top: float) -> float:
    """log Σ exp(scores), computed from their largest, ``top``."""
    return top + math.log(float(np.exp(scores - top).sum()))


def digest(examples: Sequence[tuple[str, str]], recipe: Recipe = ARTICLES) -> str:
    """What a model is trained on (output, text) and how: an ingest that changes neither trains nothing."""
    found = hashlib.sha256(recipe.version.encode())
    for article, text in sorted(examples):
        found.update(f"{article}\t{text}\n".encode())
    return found.hexdigest()


def train(
    examples: Sequence[tuple[str, str]],
    recipe: Recipe = ARTICLES,
    *,
    advance: Callable[[], None] = lambda: None,
) -> ArticleModel:
    """Fit a model on (output, text) examples — the output an article's "doc_id:article" — as ``recipe``
    says; ``advance`` is called once per pass (``recipe.passes(len(examples))`` in all). Needs examples
    of at least two outputs."""
    # Sorted: the same lines give the same model whatever order the store returns them in, which depends
    # on what earlier ingests added and removed.
    examples = sorted(examples)
    articles = tuple(sorted({a for a, _ in examples}))
    if len(articles) < 2:
        raise ValueError("an article model needs examples of at least two articles")
    counts = [ngram_counts(text) for _, text in examples]
    space = NgramSpace.fit(counts)
    x = space.matrix(counts).astype(np.float32)  # also puts each row's n-grams in column order
    place = {a: n for n, a in enumerate(articles)}
    target = np.array([place[a] for a, _ in examples])
    keys = _Keys.of(space, articles, examples)
    lock = threading.Lock()

    def advanced() -> None:  # the members report from their threads
        with lock:
            advance()

    # The members are independent and numpy lets go of the GIL in most of a step: trained side by side,
    # one BLAS thread each, process-wide while they train, and all at once even on fewer cores, so that
    # no core idles while the last one trains (three members on two cores: one after the other 48 s, two
    # at a time 38–42 s; all three at once 0.86 × the time of two at a time, the same model to the bit).
    with threadpool_limits(1), ThreadPoolExecutor(max_workers=recipe.members) as pool:
        members = list(
            pool.map(
                lambda m: _member(x, target, keys, recipe, recipe.seed + m, advanced),
                range(recipe.members),
            )
        )
    weights = np.concatenate([m["weights"] for m in members], axis=1)
    weights /= recipe.members  # the scores of the whole are the members' mean
    bias = np.mean([m["bias"] for m in members], axis=0).astype(np.float32)
    embedding = np.concatenate([m["embedding"] for m in members], axis=1)
    return ArticleModel(articles, space, embedding, weights, bias, digest(examples, recipe))


def _member(
    x: sparse.csr_matrix,
    target: npt.NDArray[np.int64],
    keys: _Keys,
    recipe: Recipe,
    seed: int,
    advance: Callable[[], None],
) -> dict[str, npt.NDArray[np.float32]]:
    """One member's parameters, trained from ``seed`` on the n-gram rows ``x`` and their outputs.

    Every random number is drawn from what it is for (``_Keys``), not from one stream: an n-gram's
    starting row from the n-gram, an article's output row from the article, a line's place in a pass and
    its dropped n-grams from the line. A few lines more or less then move the other lines' batches by a
    few places instead of dealing every number anew, and the model stays near the one before: 14 added
    lines change the best article of 1.0 % of the benchmark questions, another seed of 15.8 % (with one
    stream the lines changed 15.7 %; ``python benchmarks/model_stability.py``, docs/retrieval-history.md,
    *Since 4ebf647*)."""
    bound = 1 / math.sqrt(recipe.dim)
    embedding = _LazyRows(_rows(seed, _EMBEDDING, keys.ngrams, recipe.dim, lambda k: 0.1 * _normal(k)))
    params = {
        "weights": _rows(seed, _WEIGHTS, keys.articles, recipe.dim, lambda k: bound * (2 * _uniform(k) - 1)),
        "bias": (bound * (2 * _uniform(_keyed(seed, _BIAS, keys.articles)) - 1)).astype(np.float32),
    }
    adam = _Adam(params, recipe.rate)
    for n in range(recipe.member_passes(len(target))):
        order = np.argsort(_keyed(seed, _ORDER, np.uint64(n), keys.examples), kind="stable")
        for start in range(0, len(order), recipe.batch):
            rows = order[start : start + recipe.batch]
            batch = x[rows]
            drawn = _keyed(seed, _DROPOUT, np.uint64(n), keys.examples[rows])  # each line's, once
            lines = np.repeat(drawn, np.diff(batch.indptr))
            dropped = _uniform(_mixed(lines ^ keys.ngrams[batch.indices]))  # _keyed's last step, per n-gram
            batch.data *= dropped >= recipe.dropout
            _step(params, embedding, adam, batch, target[rows])
        advance()
    return {"embedding": embedding.values(), **params}


@dataclass(frozen=True)
class _Keys:
    """What each random number of training is drawn from: a 64-bit key per n-gram (its hashed id),
    per output article and per example line (hashes of their text)."""

    ngrams: npt.NDArray[np.uint64]  # one per column of the n-gram rows
    articles: npt.NDArray[np.uint64]  # one per output
    examples: npt.NDArray[np.uint64]  # one per example (article and text)

    @classmethod
    def of(cls, space: NgramSpace, articles: Sequence[str], examples: Sequence[tuple[str, str]]) -> _Keys:
        return cls(
            space.ids.astype(np.uint64),
            _text_keys(articles),
            _text_keys([f"{article}\t{text}" for article, text in examples]),
        )


# What a number is drawn for, mixed into its key so that no two uses share a stream.
_EMBEDDING, _WEIGHTS, _BIAS, _ORDER, _DROPOUT = (np.uint64(n) for n in range(1, 6))
_ROWS_AT_A_TIME = 4096


def _rows(
    seed: int,
    use: np.uint64,
    keys: npt.NDArray[np.uint64],
    dim: int,
    draw: Callable[[npt.NDArray[np.uint64]], npt.NDArray[np.float64]],
) -> npt.NDArray[np.float32]:
    """A starting row of ``dim`` numbers per key, ``draw`` making each from its (key, column) key; a few
    thousand rows at a time, so that the 64-bit keys never take more memory than the rows themselves."""
    rows = np.empty((len(keys), dim), dtype=np.float32)
    columns = np.arange(dim, dtype=np.uint64)[None, :]
    for start in range(0, len(keys), _ROWS_AT_A_TIME):
        part = keys[start : start + _ROWS_AT_A_TIME, None]
        rows[start : start + _ROWS_AT_A_TIME] = draw(_keyed(seed, use, part, columns))
    return rows


def _text_keys(texts: Sequence[str]) -> npt.NDArray[np.uint64]:
    return np.array(
        [int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little") for t in texts],
        dtype=np.uint64,
    )


def _keyed(seed: int, *parts: npt.NDArray[np.uint64] | np.uint64) -> npt.NDArray[np.uint64]:
    """A well-spread 64-bit number for each combination of ``parts`` (broadcast), the same for the same
    parts and seed: splitmix64's finaliser applied after each part is mixed in."""
    found = _mixed(np.asarray(np.uint64(seed)))
    for part in parts:
        found = _mixed(found ^ part)
    return found


def _mixed(z: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser (Steele, Lea & Flood 2014); unsigned arithmetic wraps, as it should."""
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _uniform(keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.float64]:
    """Each key as a number in [0, 1): its top 53 bits."""
    return (keys >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _normal(keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.float64]:
    """Each key as a standard normal number (Box–Muller, its two uniforms from the key and its mix)."""
    radius = np.sqrt(-2.0 * np.log1p(-_uniform(keys)))
    return radius * np.cos(2.0 * math.pi * _uniform(_mixed(keys)))


def _step(
    params: dict[str, npt.NDArray[np.float32]],
    embedding: _LazyRows,
    adam: _Adam,
    batch: sparse.csr_matrix,
    target: npt.NDArray[np.int64],
) -> None:
    """One Adam step on the mean cross-entropy of a batch (CSR rows of n-gram vectors); the embedding
    moves only on the rows of the n-grams the batch holds (lazy Adam)."""
    from scipy import sparse

    adam.steps += 1
    weights, bias = params["weights"], params["bias"]
    used, inverse = np.unique(batch.indices, return_inverse=True)
    local = sparse.csr_matrix((batch.data, inverse, batch.indptr), shape=(batch.shape[0], len(used)))
    block = embedding.block(used)
    hidden = local @ block[:, 0]
    # The (batch × articles) arrays are the step's bulk: worked in place, one allocation for all.
    residual = hidden @ weights.T
    residual += bias
    residual -= residual.max(axis=1, keepdims=True)
    np.exp(residual, out=residual)
    residual /= residual.sum(axis=1, keepdims=True)
    residual[np.arange(len(target)), target] -= 1.0
    residual /= len(target)
    adam.update("weights", residual.T @ hidden)
    adam.update("bias", residual.sum(axis=0))
    gradient = local.T @ (residual @ weights)
    adam.move(block[:, 0], block[:, 1], block[:, 2], gradient)
    embedding.put(used, block)


class _LazyRows:
    """A parameter moved a few rows at a time (the embedding: the n-grams of one batch), held with its
    Adam moments row by row, so a step gathers and puts back each row once rather than three arrays'
    rows apart (measured: a member 24 → 21 s, the same model to the bit)."""

    def __init__(self, values: npt.NDArray[np.float32]) -> None:
        self.rows = np.zeros((values.shape[0], 3, values.shape[1]), dtype=np.float32)
        self.rows[:, 0] = values  # then the first moment, then the second

    def block(self, used: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.float32]:
        """A copy of rows ``used``: ``[:, 0]`` the values, ``[:, 1]`` and ``[:, 2]`` the moments."""
        return self.rows[used]

    def put(self, used: npt.NDArray[np.integer[Any]], block: npt.NDArray[np.float32]) -> None:
        self.rows[used] = block

    def values(self) -> npt.NDArray[np.float32]:
        return np.ascontiguousarray(self.rows[:, 0])


class _Adam:
    """Adam (Kingma & Ba); rows of a ``_LazyRows`` parameter are moved, and their moments decay, only at
    the steps whose gradient includes them, as for sparse embeddings."""

    def __init__(
        self,
        params: dict[str, npt.NDArray[np.float32]],
        rate: float,
        *,
        beta1: float = 0.9,
        beta2: float = 0.999,
    ) -> None:
        self.params, self.rate = params, rate
        self.first = {k: np.zeros_like(v) for k, v in params.items()}
        self.second = {k: np.zeros_like(v) for k, v in params.items()}
        self.beta1, self.beta2, self.steps = beta1, beta2, 0

    def update(self, name: str, gradient: npt.NDArray[np.float32]) -> None:
        """Move the whole of ``params[name]`` by this step's gradient, which is used up (overwritten);
        ``steps`` counts the steps."""
        self.move(self.params[name], self.first[name], self.second[name], gradient)

    def move(
        self,
        values: npt.NDArray[np.float32],
        first: npt.NDArray[np.float32],
        second: npt.NDArray[np.float32],
        gradient: npt.NDArray[np.float32],
    ) -> None:
        """Move ``values`` and their moments in place by ``gradient`` (used up): the same arithmetic in
        the same order as with new arrays, so the same model, a fifth faster."""
        b1, b2, t = self.beta1, self.beta2, max(self.steps, 1)
        first *= b1
        first += (1 - b1) * gradient
        gradient **= 2
        gradient *= 1 - b2
        second *= b2
        second += gradient
        step = self.rate * math.sqrt(1 - b2**t) / (1 - b1**t)
        move = np.sqrt(second)
        move += 1e-8
        np.divide(step * first, move, out=move)
        values -= move
