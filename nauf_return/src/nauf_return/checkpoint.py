"""Resumable training checkpoints: trainable weights and optimizer state as safetensors + JSON.

A checkpoint directory is written under a temporary name and renamed into place, so a run killed
mid-save keeps its previous checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from nauf_return.errors import ConfigError


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().contiguous() for n, p in model.named_parameters()
            if p.requires_grad}


def _optimizer_tensors(optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, slots in state["state"].items():
        for key, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def save_checkpoint(directory: str | Path, model, optimizer, scheduler, meta: dict) -> None:
    directory = Path(directory)
    tmp = directory.with_name(f".{directory.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(trainable_state(model), str(tmp / "model.safetensors"))
    tensors, rest = _optimizer_tensors(optimizer)
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    state = {**meta, "optimizer": rest, "scheduler": scheduler.state_dict()}
    (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2, default=str))
    old = directory.with_name(f".{directory.name}.old{os.getpid()}")
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(directory: str | Path, model, optimizer, scheduler, expect: dict) -> dict:
    """Restore weights, optimizer and scheduler; ``expect`` keys must match the saved meta."""
    directory = Path(directory)
    state_path = directory / "trainer_state.json"
    if not state_path.is_file():
        raise ConfigError(f"resume: no trainer_state.json in {directory}")
    state = json.loads(state_path.read_text())
    for key, value in expect.items():
        if state.get(key) != value:
            raise ConfigError(f"resume: checkpoint {directory} has {key}={state.get(key)!r}, "
                              f"this run expects {value!r}")
    weights = load_file(str(directory / "model.safetensors"))
    params = dict(model.named_parameters())
    missing = [n for n, p in params.items() if p.requires_grad and n not in weights]
    if missing:
        raise ConfigError(f"resume: checkpoint {directory} lacks weights {missing[:3]}")
    with torch.no_grad():
        for name, tensor in weights.items():
            params[name].copy_(tensor)
    tensors = load_file(str(directory / "optimizer.safetensors"))
    opt_state: dict = {"state": {}, "param_groups": state["optimizer"]["param_groups"]}
    for key, value in list(tensors.items()) + list(state["optimizer"]["scalars"].items()):
        pid, slot = key.split(".", 1)
        opt_state["state"].setdefault(int(pid), {})[slot] = value
    optimizer.load_state_dict(opt_state)
    scheduler.load_state_dict(state["scheduler"])
    return state
