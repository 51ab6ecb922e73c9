"""The optional dense embedder, exercised with a real but tiny random-weight model (no network)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sentence_transformers")

from knowledge.embeddings import (
    E5_PREFIXES,
    RURI_LEGACY_PREFIXES,
    RURI_V3_PREFIXES,
    Embedder,
    EmbeddingError,
    SentenceTransformerEmbedder,
    detect_prefixes,
)
from tests.fakes.tiny_embedding_model import HIDDEN, MAX_SEQ_LENGTH, build_tiny_model

REPO = Path(__file__).resolve().parents[2]
TEXTS = [
    "地方自治法第二百三十八条の四の規定により、行政財産の目的外使用を許可することができる。",
    "職員の服務については、地方公務員法の定めるところによる。",
    "行政財産",
    "この通知は、令和六年四月一日から施行する。",
    "手数料を徴収することができる。",
]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny model under several directory names (names drive prefix detection)."""
    root = tmp_path_factory.mktemp("models")
    plain = build_tiny_model(root / "tiny-model")
    dirs = {"plain": plain}
    for key, name in (("ruri", "ruri-tiny"), ("e5", "multilingual-e5-tiny"), ("saved", "e5-with-prompts")):
        dirs[key] = Path(shutil.copytree(plain, root / name))
    config = dirs["saved"] / "config_sentence_transformers.json"
    data = json.loads(config.read_text(encoding="utf-8"))
    data["prompts"] = {"query": "Q: ", "document": "D: "}
    config.write_text(json.dumps(data), encoding="utf-8")
    return dirs


@pytest.fixture(scope="module")
def plain(models: dict[str, Path]) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(model_dir=models["plain"], batch_size=2)


def test_loads_tiny_model(plain: SentenceTransformerEmbedder, models: dict[str, Path]) -> None:
    assert isinstance(plain, Embedder)
    assert plain.name == "tiny-model"
    assert plain.dim == HIDDEN == 32
    assert plain.max_seq_length == MAX_SEQ_LENGTH
    assert plain.model_dir == models["plain"].resolve()
    assert (plain.query_prefix, plain.document_prefix, plain.prefix_source) == ("", "", "none")


def test_documents_are_float32_unit_rows(plain: SentenceTransformerEmbedder) -> None:
    vectors = plain.embed_documents(TEXTS)
    assert vectors.shape == (5, 32)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), np.ones(5), atol=1e-5)
    # Random weights, but distinct texts must still give distinct vectors.
    assert len({row.tobytes() for row in vectors}) == 5


def test_query_is_float32_unit_vector(plain: SentenceTransformerEmbedder) -> None:
    vector = plain.embed_query("行政財産の使用許可は？")
    assert vector.shape == (32,)
    assert vector.dtype == np.float32
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_same_text_same_vector(plain: SentenceTransformerEmbedder) -> None:
    first = plain.embed_query(TEXTS[0])
    again = plain.embed_query(TEXTS[0])
    np.testing.assert_array_equal(first, again)
    # Without prefixes a query and a document of the same text coincide.
    np.testing.assert_allclose(plain.embed_documents([TEXTS[0]])[0], first, atol=1e-6)


def test_batch_matches_single(plain: SentenceTransformerEmbedder) -> None:
    batch = plain.embed_documents(TEXTS)  # batch_size 2, texts of very different lengths (padding)
    for i, text in enumerate(TEXTS):
        np.testing.assert_allclose(batch[i], plain.embed_documents([text])[0], atol=1e-5)


def test_empty_document_list(plain: SentenceTransformerEmbedder) -> None:
    calls: list[tuple[int, int]] = []
    vectors = plain.embed_documents([], progress=lambda done, total: calls.append((done, total)))
    assert vectors.shape == (0, 32)
    assert vectors.dtype == np.float32
    assert calls == []


def test_progress_after_each_batch(plain: SentenceTransformerEmbedder) -> None:
    calls: list[tuple[int, int]] = []
    plain.embed_documents(TEXTS, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_long_inputs_are_truncated(plain: SentenceTransformerEmbedder) -> None:
    head = "行政財産の管理" * 40  # 280 characters, well past 128 tokens
    a, b = plain.embed_documents([head + "職員" * 500, head + "許可" * 500])
    np.testing.assert_allclose(a, b, atol=1e-6)  # only the first max_seq_length tokens count


def test_ruri_prefixes_from_directory_name(
    models: dict[str, Path], plain: SentenceTransformerEmbedder
) -> None:
    ruri = SentenceTransformerEmbedder(model_dir=models["ruri"])
    assert (ruri.query_prefix, ruri.document_prefix) == RURI_V3_PREFIXES == ("検索クエリ: ", "検索文書: ")
    assert ruri.prefix_source == "directory name"
    question = "行政財産の使用許可は？"
    # The prefix is really applied: same weights, explicit prefix on the plain copy gives the same vector.
    manual = SentenceTransformerEmbedder(model_dir=models["plain"], query_prefix="検索クエリ: ")
    np.testing.assert_allclose(ruri.embed_query(question), manual.embed_query(question), atol=1e-6)
    assert not np.allclose(ruri.embed_query(question), plain.embed_query(question), atol=1e-3)
    assert not np.allclose(ruri.embed_query(question), ruri.embed_documents([question])[0], atol=1e-3)


def test_e5_prefixes_from_directory_name(models: dict[str, Path]) -> None:
    e5 = SentenceTransformerEmbedder(model_dir=models["e5"])
    assert (e5.query_prefix, e5.document_prefix) == E5_PREFIXES == ("query: ", "passage: ")
    assert e5.name == "multilingual-e5-tiny"


def test_saved_prompts_beat_directory_name(models: dict[str, Path]) -> None:
    saved = SentenceTransformerEmbedder(model_dir=models["saved"])
    assert (saved.query_prefix, saved.document_prefix, saved.prefix_source) == ("Q: ", "D: ", "saved prompts")


def test_explicit_prefixes_override(models: dict[str, Path]) -> None:
    both = SentenceTransformerEmbedder(model_dir=models["ruri"], query_prefix="", document_prefix="文書: ")
    assert (both.query_prefix, both.document_prefix, both.prefix_source) == ("", "文書: ", "explicit")
    one = SentenceTransformerEmbedder(model_dir=models["e5"], query_prefix="Q: ")
    assert (one.query_prefix, one.document_prefix) == ("Q: ", "passage: ")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("ruri-v3-310m", RURI_V3_PREFIXES), ("RURI-V3-30M", RURI_V3_PREFIXES),
     ("ruri-base", RURI_LEGACY_PREFIXES), ("ruri-large-v2", RURI_LEGACY_PREFIXES),
     ("multilingual-e5-large", E5_PREFIXES), ("bge-m3", ("", ""))],
)
def test_detect_prefixes_by_name(tmp_path: Path, name: str, expected: tuple[str, str]) -> None:
    found = detect_prefixes(tmp_path / name, prompts={"query": "", "document": ""})  # empty prompts = none
    assert (found.query, found.document) == expected


def test_detect_prefixes_passage_key() -> None:
    found = detect_prefixes(Path("anything"), prompts={"query": "query: ", "passage": "passage: "})
    assert (found.query, found.document, found.source) == ("query: ", "passage: ", "saved prompts")


def test_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(EmbeddingError, match="見つかりません") as info:
        SentenceTransformerEmbedder(model_dir=missing)
    assert str(missing) in str(info.value)
    assert "not found" in str(info.value)


def test_empty_directory(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EmbeddingError, match=r"modules\.json") as info:
        SentenceTransformerEmbedder(model_dir=empty)
    assert str(empty) in str(info.value)


def test_file_instead_of_directory(tmp_path: Path) -> None:
    file = tmp_path / "model.safetensors"
    file.write_bytes(b"\0" * 16)
    with pytest.raises(EmbeddingError, match="not a directory") as info:
        SentenceTransformerEmbedder(model_dir=file)
    assert str(file) in str(info.value)


def test_broken_model_directory(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "modules.json").write_text("[]", encoding="utf-8")
    with pytest.raises(EmbeddingError, match="読み込めません") as info:
        SentenceTransformerEmbedder(model_dir=broken)
    assert str(broken) in str(info.value)


def test_missing_extra_is_explained(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # makes the import raise ImportError
    with pytest.raises(EmbeddingError, match=r"pip install 'kairan\[embeddings\]'"):
        SentenceTransformerEmbedder(model_dir=models["plain"])


def test_offline_env_restored(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    before = huggingface_hub.constants.HF_HUB_OFFLINE
    SentenceTransformerEmbedder(model_dir=models["plain"])
    assert "HF_HUB_OFFLINE" not in os.environ
    assert os.environ["TRANSFORMERS_OFFLINE"] == "0"
    assert before == huggingface_hub.constants.HF_HUB_OFFLINE


def test_core_import_is_lazy_and_offline_mode_is_restored(models: dict[str, Path]) -> None:
    """In a fresh process: importing the module pulls in no torch, and the first load (which is
    also the first import of huggingface_hub) leaves the process online as it was."""
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "import knowledge.embeddings as e\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert e.SentenceTransformerEmbedder(model_dir=Path(sys.argv[1])).dim == 32\n"
        "import huggingface_hub.constants as c\n"
        "assert c.HF_HUB_OFFLINE is False, c.HF_HUB_OFFLINE\n"
        "assert 'HF_HUB_OFFLINE' not in os.environ and 'TRANSFORMERS_OFFLINE' not in os.environ\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    subprocess.run(
        [sys.executable, "-W", "error", "-c", code, str(models["plain"])],
        cwd=REPO, env=env, check=True, timeout=240,
    )
