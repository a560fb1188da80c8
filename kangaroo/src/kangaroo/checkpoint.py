"""Training state as one unit: weights, optimizer, scheduler, RNG and step.

Written into a temporary folder, with a manifest of sha256 hashes written last, then renamed over
the previous state in one step. ``load_state`` verifies every file against the manifest and the
config hash; a missing or altered piece is an error, never a silent restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

MANIFEST = "manifest.json"
PIECES = ("adapter.safetensors", "optimizer.safetensors", "trainer.json")


class CheckpointError(RuntimeError):
    pass


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, meta = {}, {"param_groups": state["param_groups"], "scalars": {}}
    for pid, slots in state["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{name}"] = value.detach().contiguous()
            else:
                meta["scalars"][f"{pid}.{name}"] = value
    return tensors, meta


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in list(tensors.items()) + list(meta["scalars"].items()):
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_state(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler, step: int,
               config_hash: str) -> None:
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()},
              str(tmp / "adapter.safetensors"))
    opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
    save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
    trainer = {"step": step, "config_hash": config_hash, "optimizer": opt_meta,
               "scheduler": scheduler.state_dict(),
               "rng": torch.get_rng_state().tolist()}
    (tmp / "trainer.json").write_text(json.dumps(trainer))
    manifest = {"step": step, "config_hash": config_hash,
                "files": {p: _sha(tmp / p) for p in PIECES}}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    if old.exists():
        shutil.rmtree(old)


def load_state(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler, config_hash: str) -> int:
    """Restore the unit in ``folder``; returns its step."""
    fix = "delete it and rerun with overwrite=true to start fresh"
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise CheckpointError(f"{manifest_path}: missing; the checkpoint unit is incomplete "
                              f"(interrupted write?); {fix}")
    manifest = json.loads(manifest_path.read_text())
    for piece in PIECES:
        path = folder / piece
        if not path.exists():
            raise CheckpointError(f"{path}: missing piece of the checkpoint unit; {fix}")
        if _sha(path) != manifest["files"].get(piece):
            raise CheckpointError(f"{path}: sha256 differs from {manifest_path} (torn or edited "
                                  f"checkpoint); {fix}")
    if manifest["config_hash"] != config_hash:
        raise CheckpointError(f"{manifest_path}: written for config hash "
                              f"{manifest['config_hash']}, this run has {config_hash}; {fix}")
    trainer = json.loads((folder / "trainer.json").read_text())
    model.load_state_dict(load_file(str(folder / "adapter.safetensors")))
    optimizer.load_state_dict(_unflatten_optimizer(
        load_file(str(folder / "optimizer.safetensors")), trainer["optimizer"]))
    scheduler.load_state_dict(trainer["scheduler"])
    torch.set_rng_state(torch.tensor(trainer["rng"], dtype=torch.uint8))
    return int(trainer["step"])
