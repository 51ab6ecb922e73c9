"""TEST FIXTURE: a real but tiny sentence-transformers model, built offline.

THE WEIGHTS ARE RANDOM. The embeddings it produces carry no meaning at all; it
exists only to exercise the plumbing (loading a local directory without network,
tokenising Japanese, batching, pooling, normalising, prefixes) in seconds.
Never point a real deployment at a directory built by this module.

The model is a 2-layer BERT (hidden 32, 2 heads, intermediate 64) initialised with
a fixed ``torch.manual_seed``, a ``BertTokenizerFast`` over a WordPiece vocabulary
written here (special tokens plus single characters, each also as a ``##``
continuation piece), mean pooling, saved with ``SentenceTransformer.save``.

Requires the ``embeddings`` extra (torch, sentence-transformers).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

SEED = 20240601
HIDDEN = 32
MAX_SEQ_LENGTH = 128
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

# Sentences whose characters all get a vocabulary entry.
SAMPLE_SENTENCES = (
    "地方自治法第二百三十八条の四の規定により、行政財産の目的外使用を許可することができる。",
    "職員の服務については、地方公務員法の定めるところによる。",
    "普通地方公共団体の長は、条例で定めるところにより、手数料を徴収することができる。",
    "行政手続法に基づく申請に対する処分の審査基準を公にしておかなければならない。",
    "この通知は、令和六年四月一日から施行する。総務省自治行政局長",
    "公有財産の管理及び処分について、議会の議決を経なければならない。",
)
_HIRAGANA = "".join(chr(c) for c in range(ord("ぁ"), ord("ゖ") + 1))
_KATAKANA = "".join(chr(c) for c in range(ord("ァ"), ord("ヺ") + 1)) + "ー"
_COMMON_KANJI = "検索文書国県市町村区長議会員法令規則条項号年月日時間人事業務者所属課係届出許可認定登録"
_ASCII = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_PUNCT = "、。・「」（）():：,.!?！？/-"


def vocabulary() -> list[str]:
    """The WordPiece vocabulary: special tokens, then each character as a word start and as ``##`` piece."""
    chars: list[str] = []
    seen: set[str] = set()
    for ch in "".join((*SAMPLE_SENTENCES, _HIRAGANA, _KATAKANA, _COMMON_KANJI, _ASCII, _PUNCT)):
        if ch not in seen and not ch.isspace():
            seen.add(ch)
            chars.append(ch)
    return [*SPECIAL_TOKENS, *chars, *(f"##{ch}" for ch in chars)]


def build_tiny_model(dir: Path) -> Path:
    """Build the random-weight tiny model into ``dir`` (created if missing) and return ``dir``."""
    import torch
    from sentence_transformers import SentenceTransformer

    # transformers 5 keeps BertTokenizerFast as a runtime alias of BertTokenizer outside ``__all__``,
    # so its type information does not export it; transformers 4 exports it as a class of its own.
    from transformers import BertConfig, BertModel, BertTokenizerFast  # type: ignore[attr-defined]

    try:
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # sentence-transformers < 5.4 keeps them in the old place
        # The installed (newer) package has no such module, so mypy cannot resolve it.
        from sentence_transformers.models import Pooling, Transformer  # type: ignore[import-not-found, no-redef]

    dir = Path(dir)
    dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tiny-bert-") as tmp:
        hf_dir = Path(tmp)
        vocab_file = hf_dir / "vocab.txt"
        vocab = vocabulary()
        vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
        # from_pretrained reads vocab.txt in transformers 4 and 5 alike (the constructor's
        # argument was renamed from vocab_file to vocab in 5 and silently ignores the old name).
        tokenizer = BertTokenizerFast.from_pretrained(
            str(hf_dir), local_files_only=True, do_lower_case=False, tokenize_chinese_chars=True,
            model_max_length=MAX_SEQ_LENGTH,
        )
        if len(tokenizer) != len(vocab):
            raise RuntimeError(f"tiny tokenizer has {len(tokenizer)} tokens, expected {len(vocab)}")
        config = BertConfig(
            vocab_size=len(vocab), hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=MAX_SEQ_LENGTH, type_vocab_size=2,
        )
        torch.manual_seed(SEED)
        BertModel(config).save_pretrained(hf_dir)
        tokenizer.save_pretrained(hf_dir)

        transformer = Transformer(str(hf_dir), max_seq_length=MAX_SEQ_LENGTH)
        pooling = Pooling(HIDDEN, "mean")
        SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(dir))
    return dir
