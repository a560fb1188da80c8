"""Checkpoints as one unit: weights, optimizer, RNG state, step and config, committed together.

A save writes every file into a fresh unit folder ``ckpt-<step>/`` together with ``manifest.json``
(sha256 of each file), then atomically replaces the pointer ``checkpoint.json`` (unit name, step,
manifest hash), and only then deletes older units. A kill at any moment leaves the pointer naming
a complete unit. Loading verifies the pointer, the manifest and every file's hash; anything missing
or different raises ``CheckpointError`` naming the file and the way out (``overwrite=true``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

POINTER = "checkpoint.json"
FILES = ("model.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json")
RECOVERY = "start a fresh run with overwrite=true, or point the run at a new folder"


class CheckpointError(RuntimeError):
    """A checkpoint that is torn, corrupted or does not fit the model."""


def atomic_write(path: Path, write) -> None:
    """``write(tmp_path)`` then rename onto ``path``: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are meant to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_text(path: Path, text: str) -> None:
    atomic_write(path, lambda p: Path(p).write_text(text))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors = {
        f"{idx}.{key}": value.detach().cpu().contiguous()
        for idx, entry in state["state"].items()
        for key, value in entry.items()
        if isinstance(value, torch.Tensor)
    }
    return tensors, {"param_groups": state["param_groups"]}


def save_checkpoint(
    folder: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    config: dict,
    extra: dict | None = None,
) -> None:
    """Commit weights, optimizer, torch RNG state, step, ``config`` and ``extra`` as one unit."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    unit = Path(tempfile.mkdtemp(dir=folder, prefix=".ckpt-tmp-"))
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt_tensors, opt_meta = _optimizer_tensors(optimizer)
    save_file(weights, str(unit / "model.safetensors"))
    save_file(opt_tensors, str(unit / "optimizer.safetensors"))
    save_file({"torch": torch.get_rng_state()}, str(unit / "rng.safetensors"))
    state = {"step": step, "config": config, "optimizer": opt_meta, **(extra or {})}
    (unit / "state.json").write_text(json.dumps(state, indent=1))
    manifest = {"step": step, "sha256": {name: sha256(unit / name) for name in FILES}}
    (unit / "manifest.json").write_text(json.dumps(manifest, indent=1))
    final = folder / f"ckpt-{step:09d}"
    if final.exists():  # a unit of this step from an interrupted earlier save: replace it
        shutil.rmtree(final)
    os.rename(unit, final)
    pointer = {"unit": final.name, "step": step, "manifest": sha256(final / "manifest.json")}
    atomic_text(folder / POINTER, json.dumps(pointer, indent=1))
    for old in folder.glob("ckpt-*"):  # older units and leftovers of interrupted saves
        if old.name != final.name:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in folder.glob(".ckpt-tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)


def checkpoint_unit(folder: str | Path) -> Path | None:
    """The verified unit folder named by ``folder/checkpoint.json``; None when there is no
    checkpoint at all. A torn or corrupted unit raises ``CheckpointError``."""
    folder = Path(folder)
    pointer_path = folder / POINTER
    if not pointer_path.is_file():
        strays = sorted(p.name for p in folder.glob("ckpt-*")) if folder.is_dir() else []
        if strays or (folder / "model.safetensors").is_file():
            raise CheckpointError(
                f"{pointer_path}: missing, but {folder} holds checkpoint files "
                f"({(strays or ['model.safetensors'])[0]}); not a committed checkpoint of this "
                f"code; {RECOVERY}"
            )
        return None
    try:
        pointer = json.loads(pointer_path.read_text())
        unit = folder / pointer["unit"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise CheckpointError(
            f"{pointer_path}: unreadable ({error}); expected JSON with 'unit', 'step', "
            f"'manifest'; {RECOVERY}"
        ) from None
    manifest_path = unit / "manifest.json"
    if not manifest_path.is_file() or sha256(manifest_path) != pointer.get("manifest"):
        raise CheckpointError(
            f"{manifest_path}: missing or not the manifest {pointer_path} committed; {RECOVERY}"
        )
    manifest = json.loads(manifest_path.read_text())
    for name, digest in manifest["sha256"].items():
        path = unit / name
        if not path.is_file():
            raise CheckpointError(f"{path}: missing piece of checkpoint unit; {RECOVERY}")
        if sha256(path) != digest:
            raise CheckpointError(
                f"{path}: sha256 differs from {manifest_path} (torn or corrupted); {RECOVERY}"
            )
    return unit


def fingerprint(folder: str | Path) -> str | None:
    """sha256 of the verified unit's manifest (so of every file in it); None: no checkpoint."""
    unit = checkpoint_unit(folder)
    return None if unit is None else sha256(unit / "manifest.json")


def read_state(folder: str | Path) -> dict | None:
    """``state.json`` of the verified checkpoint in ``folder``; None if there is no checkpoint."""
    unit = checkpoint_unit(folder)
    return None if unit is None else json.loads((unit / "state.json").read_text())


def load_model_weights(folder: str | Path, model: torch.nn.Module) -> dict:
    """Load verified weights into ``model``; a mismatched architecture raises one clear error."""
    unit = checkpoint_unit(folder)
    if unit is None:
        raise CheckpointError(f"{folder}: no checkpoint ({POINTER} not found)")
    state = json.loads((unit / "state.json").read_text())
    weights = load_file(str(unit / "model.safetensors"))
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        raise CheckpointError(
            f"{unit / 'model.safetensors'}: does not match the model config "
            f"{state['config'].get('model')}: {str(error)[:300]}"
        ) from None
    return state


def load_checkpoint(
    folder: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> int:
    """Restore model, optimizer and torch RNG state from one verified unit; return its step."""
    state = load_model_weights(folder, model)
    unit = checkpoint_unit(folder)
    tensors = load_file(str(unit / "optimizer.safetensors"))
    entries: dict[int, dict] = {}
    for name, value in tensors.items():
        idx, key = name.split(".", 1)
        entries.setdefault(int(idx), {})[key] = value
    optimizer.load_state_dict(
        {"state": entries, "param_groups": state["optimizer"]["param_groups"]}
    )
    torch.set_rng_state(load_file(str(unit / "rng.safetensors"))["torch"])
    return int(state["step"])
