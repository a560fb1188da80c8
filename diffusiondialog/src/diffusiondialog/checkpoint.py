"""Checkpoints as one unit: model.safetensors + spec.json + tokenizer.json (+ train_state.pt,
the optimizer, scheduler, RNG and step needed to resume), committed by manifest.json.

Everything is written into a temporary folder, the manifest (sha256 and size of every file,
and the step) last, and the folder is renamed into place. Loading verifies the manifest, so a
torn or mixed checkpoint (files from different steps, a missing piece) is refused, never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from diffusiondialog.model import DialogModel, ModelSpec
from diffusiondialog.tokenizer import fingerprint, load_tokenizer

MANIFEST = "manifest.json"
RECOVER = ("re-train into a fresh folder: overwrite=true (wipes the run folder) or a new "
           "trainer.output_dir")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used as it is; the message names the file and the way out."""


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
    files = {p.name: {"sha256": _digest(p), "bytes": p.stat().st_size}
             for p in sorted(tmp.iterdir())}
    (tmp / MANIFEST).write_text(json.dumps({"step": step, "files": files}, indent=2))
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise CheckpointError(f"checkpoint: expected {path} ({what}, written by "
                              f"diffusiondialog-train); {RECOVER}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err}), the file is truncated or "
                              f"corrupt; {RECOVER}") from None


def verify(folder: Path, need: tuple[str, ...] = ("model.safetensors", "spec.json",
                                                  "tokenizer.json")) -> dict:
    """The manifest, after checking that every listed file (and every one in `need`) is there
    with the recorded size and hash. Raises CheckpointError naming the first bad file."""
    folder = Path(folder)
    manifest = _read_json(folder / MANIFEST, "the manifest that commits a checkpoint")
    files = manifest.get("files", {})
    for name in need:
        if name not in files:
            raise CheckpointError(f"checkpoint {folder}: {name} is not part of this checkpoint "
                                  f"(manifest lists {sorted(files)}); {RECOVER}")
    for name, info in files.items():
        path = folder / name
        if not path.is_file():
            raise CheckpointError(f"checkpoint {folder}: {name} is missing (torn checkpoint); "
                                  f"{RECOVER}")
        if path.stat().st_size != info["bytes"] or _digest(path) != info["sha256"]:
            raise CheckpointError(f"checkpoint {folder}: {name} does not match its manifest "
                                  f"entry (replaced or corrupt; torn checkpoint); {RECOVER}")
    return manifest


def read_meta(folder: Path) -> dict:
    meta = _read_json(Path(folder) / "spec.json", "the model spec")
    if "spec" not in meta or "step" not in meta:
        raise CheckpointError(f"{Path(folder) / 'spec.json'}: expected fields 'spec' and "
                              f"'step', got {sorted(meta)}; {RECOVER}")
    return meta


def load_checkpoint(folder: str | Path, tokenizer: str | Path | None = None):
    """(model, tokenizer, meta) of a verified checkpoint. A `tokenizer` other than the one
    trained with raises."""
    folder = Path(folder)
    manifest = verify(folder)
    meta = read_meta(folder)
    if meta["step"] != manifest["step"]:
        raise CheckpointError(f"checkpoint {folder}: spec.json is from step {meta['step']}, "
                              f"the manifest from step {manifest['step']}; {RECOVER}")
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
    try:
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
    except (OSError, RuntimeError) as err:  # safetensors header/shape errors
        raise CheckpointError(f"{folder / 'model.safetensors'}: cannot load the weights "
                              f"({str(err).splitlines()[0]}); {RECOVER}") from None
    return model, tok, meta


def load_train_state(folder: Path) -> dict:
    """Optimizer, scheduler, RNG and step of a verified checkpoint. A checkpoint without them
    cannot be resumed exactly, so that is an error, never a silent restart."""
    folder = Path(folder)
    manifest = verify(folder, need=("model.safetensors", "spec.json", "tokenizer.json",
                                    "train_state.pt"))
    path = folder / "train_state.pt"
    try:
        state = torch.load(path, weights_only=False)
    except Exception as err:  # noqa: BLE001 - pickle raises many types; all mean "unusable"
        raise CheckpointError(f"{path}: cannot load the training state ({err}); "
                              f"{RECOVER}") from None
    missing = {"optimizer", "scheduler", "rng", "step"} - set(state)
    if missing:
        raise CheckpointError(f"{path}: missing fields {sorted(missing)}; {RECOVER}")
    if state["step"] != manifest["step"]:
        raise CheckpointError(f"checkpoint {folder}: train_state.pt is from step "
                              f"{state['step']}, the weights from step {manifest['step']} "
                              f"(torn checkpoint); {RECOVER}")
    return state
