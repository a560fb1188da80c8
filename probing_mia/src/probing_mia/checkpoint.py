"""One-unit checkpoints: weights, optimizer, scheduler, RNG and step written into a temporary
folder with a manifest of SHA-256 hashes (written last), then renamed into place as a whole.
Resume verifies every piece against the manifest and refuses a mismatch or a missing piece."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import random
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from probing_mia.errors import ConfigError

MANIFEST = "manifest.json"
PIECES = ("model.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json")
RECOVERY = "pass overwrite=true to start this run folder afresh"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _split_optimizer(optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, slots in state["state"].items():
        for key, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _join_optimizer(tensors: dict[str, torch.Tensor], rest: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in list(tensors.items()) + list(rest["scalars"].items()):
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": rest["param_groups"]}


def save(directory: Path, model, optimizer, scheduler, meta: dict) -> None:
    directory = Path(directory)
    tmp = directory.with_name(f".{directory.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(model, str(tmp / "model.safetensors"))  # handles tied embeddings
    tensors, rest = _split_optimizer(optimizer)
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    save_file({"torch": torch.get_rng_state()}, str(tmp / "rng.safetensors"))
    state = {**meta, "optimizer": rest, "scheduler": scheduler.state_dict(),
             "python_rng": repr(random.getstate())}
    (tmp / "state.json").write_text(json.dumps(state, indent=1, default=str))
    manifest = {piece: _sha256(tmp / piece) for piece in PIECES}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
    old = directory.with_name(f".{directory.name}.old{os.getpid()}")
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


def verify(directory: Path) -> None:
    """Raise one error naming the torn piece; return quietly when the unit is whole."""
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise ConfigError(f"checkpoint {directory}: {MANIFEST} missing (torn checkpoint); "
                          f"{RECOVERY}")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{manifest_path}: unreadable ({err.msg}); {RECOVERY}") from None
    for piece in PIECES:
        path = directory / piece
        if piece not in manifest or not path.is_file():
            raise ConfigError(f"checkpoint {directory}: piece {piece} missing; {RECOVERY}")
        if _sha256(path) != manifest[piece]:
            raise ConfigError(f"checkpoint {directory}: {piece} does not match its hash in "
                              f"{MANIFEST} (torn or edited); {RECOVERY}")


def load(directory: Path, model, optimizer, scheduler, expect: dict) -> dict:
    """Restore the unit in place; ``expect`` (e.g. config hash) must equal the saved meta."""
    directory = Path(directory)
    verify(directory)
    state = json.loads((directory / "state.json").read_text())
    for key, value in expect.items():
        if state.get(key) != value:
            raise ConfigError(f"checkpoint {directory}: {key}={state.get(key)!r}, this run has "
                              f"{value!r}; {RECOVERY}")
    load_model(model, str(directory / "model.safetensors"))
    optimizer.load_state_dict(_join_optimizer(load_file(str(directory / "optimizer.safetensors")),
                                              state["optimizer"]))
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(load_file(str(directory / "rng.safetensors"))["torch"])
    random.setstate(ast.literal_eval(state["python_rng"]))
    return state
