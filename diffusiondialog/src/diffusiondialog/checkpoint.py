"""Checkpoints: model.safetensors + spec.json + tokenizer.json (+ optimizer state to resume).

Every checkpoint is written into a temporary folder and renamed into place, so an interrupted
run never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from diffusiondialog.model import DialogModel, ModelSpec
from diffusiondialog.tokenizer import fingerprint, load_tokenizer


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_checkpoint(folder: Path, model: DialogModel, tok: Tokenizer, step: int,
                    train_state: dict | None = None) -> None:
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(tmp / "model.safetensors"))
    meta = {"spec": model.spec.to_dict(), "tokenizer_fingerprint": fingerprint(tok),
            "step": step}
    (tmp / "spec.json").write_text(json.dumps(meta, indent=2))
    tok.save(str(tmp / "tokenizer.json"))
    if train_state is not None:
        torch.save(train_state, tmp / "train_state.pt")
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def read_meta(folder: Path) -> dict:
    f = Path(folder) / "spec.json"
    if not f.is_file():
        raise FileNotFoundError(f"checkpoint: expected {f} (written by diffusiondialog-train)")
    return json.loads(f.read_text())


def load_checkpoint(folder: str | Path, tokenizer: str | Path | None = None):
    """(model, tokenizer, meta). A `tokenizer` other than the one trained with raises."""
    folder = Path(folder)
    meta = read_meta(folder)
    tok = load_tokenizer(tokenizer if tokenizer is not None else folder / "tokenizer.json")
    if fingerprint(tok) != meta["tokenizer_fingerprint"]:
        raise ValueError(
            f"checkpoint {folder} was trained with tokenizer fingerprint "
            f"{meta['tokenizer_fingerprint']}, but the tokenizer given ({tokenizer}) has "
            f"{fingerprint(tok)}; use the checkpoint's own tokenizer.json"
        )
    spec = ModelSpec(**meta["spec"])
    if tok.get_vocab_size() != spec.bart["vocab_size"]:
        raise ValueError(f"checkpoint {folder}: tokenizer has {tok.get_vocab_size()} tokens, "
                         f"model expects vocab_size {spec.bart['vocab_size']}")
    model = DialogModel(spec)
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    return model, tok, meta


def load_train_state(folder: Path) -> dict | None:
    f = Path(folder) / "train_state.pt"
    return torch.load(f, weights_only=False) if f.is_file() else None
