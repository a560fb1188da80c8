"""Checkpoints: model and optimizer tensors in safetensors, step and config in JSON.

Every file is written to a temporary name and renamed; ``state.json`` is written last, so a
checkpoint without it (an interrupted save) is never loaded.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt_tensors, opt_meta = _optimizer_tensors(optimizer)
    _atomic(folder / "model.safetensors", lambda p: save_file(weights, p))
    _atomic(folder / "optimizer.safetensors", lambda p: save_file(opt_tensors, p))
    state = {"step": step, "config": config, "optimizer": opt_meta}
    _atomic(folder / "state.json", lambda p: Path(p).write_text(json.dumps(state, indent=1)))


def read_state(folder: str | Path) -> dict | None:
    path = Path(folder) / "state.json"
    return json.loads(path.read_text()) if path.is_file() else None


def load_model_weights(folder: str | Path, model: torch.nn.Module) -> dict:
    """Load weights into ``model``; a mismatched architecture raises one clear error."""
    folder = Path(folder)
    state = read_state(folder)
    if state is None or not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"{folder}: no complete checkpoint (model.safetensors + state.json)"
        )
    weights = load_file(str(folder / "model.safetensors"))
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        raise ValueError(
            f"{folder}: checkpoint does not match model config "
            f"{state['config'].get('model')}: {str(error)[:300]}"
        ) from None
    return state


def load_checkpoint(
    folder: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> int:
    """Restore model and optimizer; return the step to resume from."""
    state = load_model_weights(folder, model)
    tensors = load_file(str(Path(folder) / "optimizer.safetensors"))
    entries: dict[int, dict] = {}
    for name, value in tensors.items():
        idx, key = name.split(".", 1)
        entries.setdefault(int(idx), {})[key] = value
    optimizer.load_state_dict(
        {"state": entries, "param_groups": state["optimizer"]["param_groups"]}
    )
    return int(state["step"])
