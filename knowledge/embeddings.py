"""Optional dense embeddings from a sentence-transformers model in a LOCAL directory.

Nothing is ever downloaded: kairan runs on LGWAN machines without internet, so an
admin copies a Japanese embedding model (ruri, multilingual-e5, ...) saved with
sentence-transformers into a directory and points ``embeddings.model_dir`` at it.

torch and sentence-transformers are the optional ``embeddings`` extra; they are
imported only when a model is loaded, so this module (and the core package)
imports without them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

Progress = Callable[[int, int], None]

E5_PREFIXES = ("query: ", "passage: ")
RURI_V3_PREFIXES = ("検索クエリ: ", "検索文書: ")
# ruri v1/v2 (cl-nagoya/ruri-{small,base,large}[-v2]) were trained with these instead.
RURI_LEGACY_PREFIXES = ("クエリ: ", "文章: ")
_RURI_LEGACY_NAME = re.compile(r"ruri-(small|base|large)(-v[12])?$")
_MODEL_MARKERS = ("modules.json", "config.json")
_ST_CONFIG = "config_sentence_transformers.json"
_DOCUMENT_PROMPT_KEYS = ("document", "passage", "corpus")
_OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


class EmbeddingError(RuntimeError):
    """The embedding model cannot be used; the message says what the admin should do."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into float32 vectors with L2-normalised rows (cosine = dot product)."""

    name: str
    dim: int

    def embed_documents(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        """Shape ``(len(texts), dim)``; ``progress(done, total)`` is called after each batch."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Shape ``(dim,)``."""
        ...


@dataclass(frozen=True)
class Prefixes:
    """What is put before a query / a document, and where that choice came from."""

    query: str
    document: str
    source: str  # "saved prompts" | "directory name" | "none" (explicit arguments are applied on top)


def check_model_dir(model_dir: Path) -> Path:
    """Return ``model_dir`` resolved, or raise ``EmbeddingError`` if it cannot hold a model."""
    path = Path(model_dir).expanduser()
    if not path.exists():
        raise EmbeddingError(
            f"埋め込みモデルのディレクトリが見つかりません: {path} / embedding model directory not found: "
            f"{path}. Copy the model directory to this machine and set embeddings.model_dir to it."
        )
    if not path.is_dir():
        raise EmbeddingError(
            f"埋め込みモデルのパスがディレクトリではありません: {path} / embedding model path is not a "
            f"directory: {path}. Set embeddings.model_dir to the directory that holds the model files."
        )
    if not any((path / marker).is_file() for marker in _MODEL_MARKERS):
        raise EmbeddingError(
            f"埋め込みモデルのディレクトリにモデルがありません（modules.json も config.json もありません）: "
            f"{path} / no sentence-transformers or Hugging Face model in {path} (neither modules.json "
            f"nor config.json found). Point embeddings.model_dir at the directory saved by "
            f"SentenceTransformer.save() or downloaded from the Hub, not at a parent or a single file."
        )
    return path.resolve()


def saved_prompts(model_dir: Path) -> dict[str, str]:
    """The ``prompts`` saved in ``config_sentence_transformers.json`` ({} if none or unreadable)."""
    path = Path(model_dir) / _ST_CONFIG
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EmbeddingError(
            f"埋め込みモデルの設定ファイルを読めません: {path} / cannot read {path}: {exc}"
        ) from exc
    prompts = data.get("prompts") if isinstance(data, dict) else None
    if not isinstance(prompts, dict):
        return {}
    return {str(k): v for k, v in prompts.items() if isinstance(v, str)}


def detect_prefixes(model_dir: Path, prompts: Mapping[str, str] | None = None) -> Prefixes:
    """Prefixes for a model: its saved non-empty prompts, else guessed from the directory name.

    ``prompts`` defaults to :func:`saved_prompts` of ``model_dir``. A name containing
    "ruri" gets the ruri v3 prefixes (ruri-small/base/large and their -v2 get the v1/v2
    ones), a name containing "e5" the e5 ones; anything else gets none.
    """
    prompts = saved_prompts(model_dir) if prompts is None else prompts
    query = prompts.get("query", "")
    document = next((prompts[k] for k in _DOCUMENT_PROMPT_KEYS if prompts.get(k)), "")
    if query or document:
        return Prefixes(query=query, document=document, source="saved prompts")
    name = Path(model_dir).name.lower()
    if "ruri" in name:
        q, d = RURI_LEGACY_PREFIXES if _RURI_LEGACY_NAME.search(name) else RURI_V3_PREFIXES
        return Prefixes(query=q, document=d, source="directory name")
    if "e5" in name:
        return Prefixes(query=E5_PREFIXES[0], document=E5_PREFIXES[1], source="directory name")
    return Prefixes(query="", document="", source="none")


@contextmanager
def _offline() -> Iterator[None]:
    """Force Hugging Face libraries offline for the duration, then restore the previous state.

    huggingface_hub reads HF_HUB_OFFLINE once, at import, so setting the environment is not
    enough in a process that already imported it: its module constant is switched as well.
    Process-global state: load models at start-up, not concurrently with other Hub calls.
    """
    hub_constants: Any = None
    with contextlib.suppress(ImportError):  # imported before the env changes: its value is the caller's
        import huggingface_hub.constants as hub_constants
    saved_constant = getattr(hub_constants, "HF_HUB_OFFLINE", None)
    saved_env = {key: os.environ.get(key) for key in _OFFLINE_ENV}
    for key in _OFFLINE_ENV:
        os.environ[key] = "1"
    if hub_constants is not None:
        hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if hub_constants is not None:
            hub_constants.HF_HUB_OFFLINE = saved_constant


def _import_sentence_transformers() -> Any:
    try:
        import sentence_transformers
    except ImportError as exc:
        raise EmbeddingError(
            "埋め込み機能に必要なパッケージ（torch, sentence-transformers）がインストールされていません / "
            "the embeddings extra is not installed: run pip install 'kairan[embeddings]' "
            f"(or disable embeddings in the manifest). Cause: {exc}"
        ) from exc
    return sentence_transformers


class SentenceTransformerEmbedder:
    """An :class:`Embedder` backed by a sentence-transformers model loaded from a local directory."""

    def __init__(
        self,
        *,
        model_dir: Path,
        batch_size: int = 32,
        device: str = "cpu",
        query_prefix: str | None = None,
        document_prefix: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        path = check_model_dir(model_dir)
        detected = detect_prefixes(path)
        self.model_dir = path
        self.name = Path(model_dir).expanduser().name or path.name
        self.batch_size = batch_size
        self.query_prefix = detected.query if query_prefix is None else query_prefix
        self.document_prefix = detected.document if document_prefix is None else document_prefix
        explicit = query_prefix is not None or document_prefix is not None
        self.prefix_source = "explicit" if explicit else detected.source
        with _offline():
            st = _import_sentence_transformers()
            try:
                self._model = st.SentenceTransformer(
                    str(path), device=device, local_files_only=True, trust_remote_code=False
                )
            except Exception as exc:  # torch / transformers raise many unrelated types here
                raise EmbeddingError(
                    f"埋め込みモデルを読み込めません: {path} / cannot load the embedding model in {path}: "
                    f"{type(exc).__name__}: {exc}. Check that the directory is a complete "
                    f"sentence-transformers model (weights, tokenizer, config) for this version of "
                    f"sentence-transformers; models needing trust_remote_code are not supported."
                ) from exc
        dim = self._embedding_dimension()
        if not dim:
            raise EmbeddingError(
                f"埋め込みモデルの次元数が分かりません: {path} / cannot tell the embedding dimension of the "
                f"model in {path} (it has no pooling layer?)."
            )
        self.dim = int(dim)
        self.max_seq_length: int | None = self._model.max_seq_length

    def _embedding_dimension(self) -> int | None:
        getter = getattr(self._model, "get_embedding_dimension", None)  # sentence-transformers >= 5.4
        if getter is None:
            getter = self._model.get_sentence_embedding_dimension
        return getter()

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        # prompt="" is deliberate: None would apply the model's default_prompt_name, if any.
        vectors = self._model.encode(
            texts, prompt=prefix, batch_size=self.batch_size, show_progress_bar=False,
            convert_to_numpy=True, normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_documents(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        """Embed documents (with the document prefix) in batches; texts longer than the model's
        ``max_seq_length`` tokens are truncated by sentence-transformers."""
        texts = list(texts)
        total = len(texts)
        out = np.empty((total, self.dim), dtype=np.float32)
        # Longest first, so each batch pads to similar lengths; rows go back to input order.
        order = sorted(range(total), key=lambda i: -len(texts[i]))
        for start in range(0, total, self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._encode([texts[i] for i in idx], self.document_prefix)
            if progress is not None:
                progress(min(start + self.batch_size, total), total)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one question (with the query prefix)."""
        return self._encode([text], self.query_prefix)[0]

    def __repr__(self) -> str:
        return (
            f"SentenceTransformerEmbedder(name={self.name!r}, dim={self.dim}, "
            f"model_dir={str(self.model_dir)!r}, query_prefix={self.query_prefix!r}, "
            f"document_prefix={self.document_prefix!r})"
        )
