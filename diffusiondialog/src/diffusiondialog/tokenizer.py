"""Byte-level BPE trained on the training split, with BART's special-token ids."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

# Same ids as BART so the batching code is identical for a real bart-base tokenizer.
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
BOS, PAD, EOS, UNK = range(4)


def train_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return tok


def fingerprint(tok: Tokenizer) -> str:
    """Content hash saved with each checkpoint to catch a mismatched tokenizer."""
    return hashlib.sha256(tok.to_str().encode()).hexdigest()[:16]


def load_tokenizer(path: str | Path) -> Tokenizer:
    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise FileNotFoundError(f"tokenizer: expected a tokenizers JSON file, got {p}")
    try:
        tok = Tokenizer.from_file(str(p))
    except Exception as err:  # noqa: BLE001 - the Rust side raises a bare Exception
        raise ValueError(f"tokenizer {p}: cannot be read ({err}); the file is truncated or "
                         "not a tokenizers JSON. In a run folder: overwrite=true re-trains "
                         "it") from None
    for i, s in enumerate(SPECIALS):
        if tok.token_to_id(s) != i:
            raise ValueError(f"tokenizer {p}: expected special token {s} at id {i} (BART ids)")
    return tok


def encode(tok: Tokenizer, text: str) -> list[int]:
    return tok.encode(text, add_special_tokens=False).ids


def decode(tok: Tokenizer, ids: Iterable[int]) -> str:
    return tok.decode([i for i in ids if i > UNK], skip_special_tokens=True).strip()
