"""Draft-head checkpoints (safetensors + JSON config) and resumable optimizer state."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from jakiro.draft_head import DraftHead, HeadConfig
from jakiro.llama import LlamaConfig

VOCAB_KEY = "draft_vocab_ids"


def _write_json(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def _write_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    tmp = path.with_suffix(".safetensors.tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, path)


def save_head(path: Path, head: DraftHead, vocab_ids: torch.Tensor, meta: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    tensors = dict(head.state_dict())
    tensors[VOCAB_KEY] = vocab_ids.long()
    _write_tensors(tensors, path / "head.safetensors")
    cfg = {"head": head.cfg.to_dict(), "target": head.target_cfg.to_dict(), **meta}
    _write_json(cfg, path / "head_config.json")


def load_head(path: Path, target_cfg: LlamaConfig) -> tuple[DraftHead, torch.Tensor, dict]:
    """Load a head; refuses one trained for a target with another hidden size or vocabulary."""
    cfg_file = path / "head_config.json"
    if not cfg_file.exists():
        raise FileNotFoundError(f"draft head {path}: expected {cfg_file}")
    meta = json.loads(cfg_file.read_text())
    tc = meta["target"]
    for key in ("hidden_size", "vocab_size", "num_key_value_heads", "head_dim"):
        if tc[key] != getattr(target_cfg, key):
            raise ValueError(
                f"draft head {path}: trained for a target with {key}={tc[key]}, but the loaded "
                f"target has {key}={getattr(target_cfg, key)}"
            )
    head = DraftHead(LlamaConfig(**tc), HeadConfig(**meta["head"]))
    tensors = load_file(str(path / "head.safetensors"))
    vocab_ids = tensors.pop(VOCAB_KEY)
    head.load_state_dict(tensors)
    return head.eval(), vocab_ids, meta


def save_train_state(path: Path, optimizer: torch.optim.Optimizer, names: list[str],
                     state: dict) -> None:
    """Adam moments flattened by parameter name (safetensors) plus step counters (JSON)."""
    path.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for name, p in zip(names, optimizer.param_groups[0]["params"], strict=True):
        st = optimizer.state.get(p, {})
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"{key}/{name}"] = val.reshape(-1) if val.dim() == 0 else val
    _write_tensors(tensors, path / "optimizer.safetensors")
    _write_json(state, path / "train_state.json")


def load_train_state(path: Path, optimizer: torch.optim.Optimizer, names: list[str]) -> dict:
    tensors = load_file(str(path / "optimizer.safetensors"))
    for name, p in zip(names, optimizer.param_groups[0]["params"], strict=True):
        st = {}
        for key in ("step", "exp_avg", "exp_avg_sq"):
            if f"{key}/{name}" in tensors:
                val = tensors[f"{key}/{name}"]
                st[key] = val.reshape(()) if key == "step" else val
        if st:
            optimizer.state[p] = st
    return json.loads((path / "train_state.json").read_text())
