"""Draft-head exports (safetensors + JSON config) and one-unit training checkpoints.

A training checkpoint is one folder ``<run>/checkpoints/step_<N>/`` holding the head weights,
the AdamW moments, the RNG state and ``state.json`` (step, schedule length, config hash), plus a
``manifest.json`` with the SHA-256 of every piece. The folder is written under a temporary name
and renamed into place, so a kill leaves either the whole unit or nothing; resume re-hashes every
piece and refuses a unit that does not match its manifest or the run's config.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from jakiro.draft_head import DraftHead, HeadConfig
from jakiro.llama import LlamaConfig

VOCAB_KEY = "draft_vocab_ids"
PIECES = ("head.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json")
STEP_DIR = re.compile(r"^step_(\d{8})$")
RECOVER = "start the run again with overwrite=true (or another out_dir)"


class CheckpointError(ValueError):
    """A checkpoint or exported head is missing a piece, torn, or from another run."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path))


def load_tensors(path: Path, recovery: str) -> dict[str, torch.Tensor]:
    """safetensors file -> tensors; a missing or corrupt file names itself and the recovery."""
    if not path.exists():
        raise CheckpointError(f"{path}: missing; {recovery}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e}); {recovery}") from e


def read_json(path: Path, recovery: str) -> dict:
    if not path.exists():
        raise CheckpointError(f"{path}: missing; {recovery}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: line {e.lineno}: not valid JSON ({e.msg}); {recovery}") \
            from e


def _replace_dir(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``; an existing ``final`` is moved aside first, then deleted."""
    old = final.with_name(final.name + ".old")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


# -- exported heads (what eval loads) --------------------------------------------------------------
def save_head(path: Path, head: DraftHead, vocab_ids: torch.Tensor, meta: dict) -> None:
    """Write ``path/head.safetensors`` + ``head_config.json`` as one folder swap."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    tensors = dict(head.state_dict())
    tensors[VOCAB_KEY] = vocab_ids.long()
    _save_tensors(tensors, tmp / "head.safetensors")
    cfg = {"head": head.cfg.to_dict(), "target": head.target_cfg.to_dict(), **meta}
    (tmp / "head_config.json").write_text(json.dumps(cfg, indent=1))
    _replace_dir(tmp, path)


def load_head(path: Path, target_cfg: LlamaConfig) -> tuple[DraftHead, torch.Tensor, dict]:
    """Load a head; refuses one trained for a target with another hidden size or vocabulary."""
    cfg_file = path / "head_config.json"
    if not cfg_file.exists():
        raise FileNotFoundError(f"draft head {path}: expected {cfg_file} (train a head with "
                                "jakiro-train, or point eval.heads.<kind> at its head/ folder)")
    recovery = "retrain the head (jakiro-train ... overwrite=true)"
    meta = read_json(cfg_file, recovery)
    tc = meta.get("target")
    if not isinstance(tc, dict) or not isinstance(meta.get("head"), dict):
        raise CheckpointError(f"{cfg_file}: expected fields 'head' and 'target' (objects); "
                              f"{recovery}")
    for key in ("hidden_size", "vocab_size", "num_key_value_heads", "head_dim"):
        if tc.get(key) != getattr(target_cfg, key):
            raise ValueError(
                f"draft head {path}: trained for a target with {key}={tc.get(key)}, but the "
                f"loaded target has {key}={getattr(target_cfg, key)}"
            )
    head = DraftHead(LlamaConfig(**tc), HeadConfig(**meta["head"]))
    tensors = load_tensors(path / "head.safetensors", recovery)
    vocab_ids = tensors.pop(VOCAB_KEY)
    head.load_state_dict(tensors)
    return head.eval(), vocab_ids, meta


# -- training checkpoints --------------------------------------------------------------------------
def optimizer_tensors(optimizer: torch.optim.Optimizer, names: list[str]) -> dict:
    """AdamW moments flattened by parameter name."""
    tensors = {}
    for name, p in zip(names, optimizer.param_groups[0]["params"], strict=True):
        for key, val in optimizer.state.get(p, {}).items():
            if torch.is_tensor(val):
                tensors[f"{key}/{name}"] = val.reshape(-1) if val.dim() == 0 else val
    return tensors


def _load_optimizer(tensors: dict, optimizer: torch.optim.Optimizer, names: list[str]) -> None:
    for name, p in zip(names, optimizer.param_groups[0]["params"], strict=True):
        st = {}
        for key in ("step", "exp_avg", "exp_avg_sq"):
            if f"{key}/{name}" in tensors:
                val = tensors[f"{key}/{name}"]
                st[key] = val.reshape(()) if key == "step" else val
        if st:
            optimizer.state[p] = st


def save_checkpoint(root: Path, head: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    names: list[str], state: dict) -> Path:
    """Write the unit ``root/step_<step>`` (temp folder + rename); older units are removed."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    _save_tensors(dict(head.state_dict()), tmp / "head.safetensors")
    _save_tensors(optimizer_tensors(optimizer, names), tmp / "optimizer.safetensors")
    _save_tensors({"torch": torch.get_rng_state()}, tmp / "rng.safetensors")
    (tmp / "state.json").write_text(json.dumps(state, indent=1))
    manifest = {p: _sha256(tmp / p) for p in PIECES}
    (tmp / "manifest.json").write_text(json.dumps({"step": state["step"], "sha256": manifest},
                                                  indent=1))
    final = root / f"step_{state['step']:08d}"
    _replace_dir(tmp, final)
    for old in root.iterdir():  # keep only the newest unit (and nothing half-written)
        if old != final and (STEP_DIR.match(old.name) or old.name.startswith(".tmp-")):
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(root: Path) -> Path | None:
    units = sorted(p for p in root.glob("step_*") if STEP_DIR.match(p.name)) \
        if root.exists() else []
    return units[-1] if units else None


def verify_checkpoint(unit: Path, config_hash: str | None) -> dict:
    """Re-hash every piece against the manifest; returns ``state.json``. Any mismatch raises."""
    manifest = read_json(unit / "manifest.json", RECOVER)
    sums = manifest.get("sha256")
    if not isinstance(sums, dict) or set(sums) != set(PIECES):
        raise CheckpointError(f"{unit / 'manifest.json'}: expected sha256 entries for "
                              f"{', '.join(PIECES)}; {RECOVER}")
    for piece in PIECES:
        path = unit / piece
        if not path.exists():
            raise CheckpointError(f"checkpoint {unit}: piece {piece} is missing (a checkpoint is "
                                  f"one unit; refusing to resume from part of it); {RECOVER}")
        if _sha256(path) != sums[piece]:
            raise CheckpointError(f"checkpoint {unit}: {piece} does not match its manifest "
                                  f"(torn or mixed checkpoint); {RECOVER}")
    state = read_json(unit / "state.json", RECOVER)
    if state.get("step") != manifest.get("step"):
        raise CheckpointError(f"checkpoint {unit}: state.json step {state.get('step')} != "
                              f"manifest step {manifest.get('step')}; {RECOVER}")
    if config_hash is not None and state.get("config_hash") != config_hash:
        raise CheckpointError(f"checkpoint {unit}: written by a run with config hash "
                              f"{state.get('config_hash')}, this run has {config_hash}; {RECOVER}")
    return state


def load_checkpoint(unit: Path, head: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    names: list[str], config_hash: str | None) -> dict:
    """Verify ``unit``, then restore weights, optimizer moments and the torch RNG."""
    state = verify_checkpoint(unit, config_hash)
    head.load_state_dict(load_tensors(unit / "head.safetensors", RECOVER))
    _load_optimizer(load_tensors(unit / "optimizer.safetensors", RECOVER), optimizer, names)
    torch.set_rng_state(load_tensors(unit / "rng.safetensors", RECOVER)["torch"])
    return state
