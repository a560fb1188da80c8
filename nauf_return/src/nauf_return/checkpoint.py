"""Resumable training checkpoints: one unit of weights, optimizer, scheduler, RNG and step.

Everything is written into a temporary folder, ``manifest.json`` (sha256 of every file) last,
and the folder is renamed into place, so a checkpoint is either complete or absent. Loading
verifies the manifest: a missing, truncated or altered piece is an error naming the file and
the recovery, never a silent restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file

from nauf_return.errors import ConfigError

MANIFEST = "manifest.json"
PIECES = ("model.safetensors", "optimizer.safetensors", "rng.safetensors", "trainer_state.json")
RECOVERY = "delete it or run with trainer.resume=false (or overwrite=true) to start fresh"


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


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    py = random.getstate()
    np_state = np.random.get_state()
    return ({"torch": torch.get_rng_state()},
            {"python": [py[0], list(py[1]), py[2]],
             "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]]})


def _set_rng_state(tensors: dict[str, torch.Tensor], state: dict) -> None:
    torch.set_rng_state(tensors["torch"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    np_state = state["numpy"]
    np.random.set_state((np_state[0], np.array(np_state[1], dtype=np.uint32), *np_state[2:]))


def save_checkpoint(directory: str | Path, model, optimizer, scheduler, meta: dict) -> None:
    directory = Path(directory)
    tmp = directory.with_name(f".{directory.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(trainable_state(model), str(tmp / "model.safetensors"))
    tensors, rest = _optimizer_tensors(optimizer)
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    rng_tensors, rng_rest = _rng_state()
    save_file(rng_tensors, str(tmp / "rng.safetensors"))
    state = {**meta, "optimizer": rest, "scheduler": scheduler.state_dict(), "rng": rng_rest}
    (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2, default=str))
    # Written last: a folder without a valid manifest is not a checkpoint.
    manifest = {name: _sha256(tmp / name) for name in PIECES}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    old = directory.with_name(f".{directory.name}.old{os.getpid()}")
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


def verify_checkpoint(directory: str | Path) -> None:
    """Raise ConfigError unless every piece is present and matches the manifest."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise ConfigError(f"resume: checkpoint {directory} has no {MANIFEST} (incomplete or "
                          f"from an older version); {RECOVERY}")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"resume: {manifest_path} is not valid JSON ({err.msg}); "
                          f"{RECOVERY}") from None
    for name in PIECES:
        path = directory / name
        if name not in manifest:
            raise ConfigError(f"resume: {manifest_path} does not list {name}; {RECOVERY}")
        if not path.is_file():
            raise ConfigError(f"resume: checkpoint piece {path} is missing; {RECOVERY}")
        if _sha256(path) != manifest[name]:
            raise ConfigError(f"resume: {path} does not match its sha256 in {MANIFEST} "
                              f"(truncated or mixed with another checkpoint); {RECOVERY}")


def read_tensors(path: str | Path, recovery: str = RECOVERY) -> dict[str, torch.Tensor]:
    """safetensors file -> tensors; a truncated or corrupted file names itself and the way out."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise ConfigError(f"cannot read {path} ({err}): expected a complete safetensors file; "
                          f"{recovery}") from None


_load_tensors = read_tensors


def load_weights(model, path: Path, recovery: str) -> tuple[list[str], list[str]]:
    """safetensors ``load_model`` (handles tied weights); errors name the file and the way out."""
    try:
        return load_model(model, str(path), strict=False)
    except (SafetensorError, OSError, RuntimeError) as err:
        raise ConfigError(f"cannot load {path} into the configured model ({str(err)[:200]}); "
                          f"{recovery}") from None


def load_checkpoint(directory: str | Path, model, optimizer, scheduler, expect: dict) -> dict:
    """Verify, then restore weights, optimizer, scheduler and RNG; ``expect`` keys must match
    the saved meta (e.g. the tag, so an injection checkpoint never resumes unlearning)."""
    directory = Path(directory)
    verify_checkpoint(directory)
    state = json.loads((directory / "trainer_state.json").read_text())
    for key, value in expect.items():
        if state.get(key) != value:
            raise ConfigError(f"resume: checkpoint {directory} has {key}={state.get(key)!r}, "
                              f"this run expects {value!r}; {RECOVERY}")
    weights = _load_tensors(directory / "model.safetensors")
    params = dict(model.named_parameters())
    trainable = {n for n, p in params.items() if p.requires_grad}
    if trainable != set(weights):
        raise ConfigError(f"resume: checkpoint {directory} holds weights for another model "
                          f"(missing {sorted(trainable - set(weights))[:3]}, unexpected "
                          f"{sorted(set(weights) - trainable)[:3]}); {RECOVERY}")
    with torch.no_grad():
        for name, tensor in weights.items():
            params[name].copy_(tensor)
    tensors = _load_tensors(directory / "optimizer.safetensors")
    opt_state: dict = {"state": {}, "param_groups": state["optimizer"]["param_groups"]}
    for key, value in list(tensors.items()) + list(state["optimizer"]["scalars"].items()):
        pid, slot = key.split(".", 1)
        opt_state["state"].setdefault(int(pid), {})[slot] = value
    optimizer.load_state_dict(opt_state)
    scheduler.load_state_dict(state["scheduler"])
    _set_rng_state(_load_tensors(directory / "rng.safetensors"), state["rng"])
    return state
