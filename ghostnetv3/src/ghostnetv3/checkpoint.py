"""Checkpoints: one unit per training state, safetensors for weights.

A training checkpoint is a folder `checkpoint/` holding model, EMA, optimizer and RNG tensors
(safetensors) and `state.json` (step, epoch, scheduler, optimizer groups, config hash), plus
`manifest.json` with the sha256 of every file, written last into a temporary folder that is then
renamed into place. Resume verifies the manifest and the config hash; a torn or mismatched unit is
an error naming the file, never a silent restart. Exported models (best, EMA, fused) are one
`*.safetensors` with a sidecar `*.json` describing how to rebuild the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ghostnetv3.models import load_model
from ghostnetv3.reparam import reparameterize_model
from ghostnetv3.run_folder import write_json_atomic

RECOVERY = "pass overwrite=true to start the run again from scratch, or choose a new out_dir"
UNIT_FILES = ("model.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json")


class CheckpointError(RuntimeError):
    """A checkpoint is missing a piece, is torn, or belongs to another run/model."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path))


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors = {f"{idx}.{k}": (v if torch.is_tensor(v) else torch.tensor(v))
               for idx, state in sd["state"].items() for k, v in state.items()}
    return tensors, {"param_groups": sd["param_groups"]}


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                      groups: dict) -> None:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    opt.load_state_dict({"state": state, **groups})


def save_unit(out_dir: Path, model: nn.Module, ema: nn.Module | None,
              opt: torch.optim.Optimizer, state: dict[str, Any]) -> Path:
    """Write the training unit into a temp folder, then rename it to `out_dir/checkpoint`."""
    final = out_dir / "checkpoint"
    tmp = out_dir / f".checkpoint.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _save_tensors(model.state_dict(), tmp / "model.safetensors")
    if ema is not None:
        _save_tensors(ema.state_dict(), tmp / "ema.safetensors")
    opt_tensors, groups = optimizer_tensors(opt)
    _save_tensors(opt_tensors or {"_empty": torch.zeros(0)}, tmp / "optimizer.safetensors")
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state()
    _save_tensors(rng, tmp / "rng.safetensors")
    write_json_atomic(tmp / "state.json", {**state, "optimizer": groups})
    files = sorted(p.name for p in tmp.iterdir())
    write_json_atomic(tmp / "manifest.json", {name: _sha256(tmp / name) for name in files})
    old = out_dir / ".checkpoint.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def verify_unit(folder: Path) -> dict[str, str]:
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        raise CheckpointError(f"checkpoint {folder} is incomplete: {manifest.name} is missing (the "
                              f"write was interrupted); {RECOVERY}")
    try:
        listed = json.loads(manifest.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{manifest} is not valid JSON ({err}); {RECOVERY}") from None
    for name in UNIT_FILES:
        if name not in listed:
            raise CheckpointError(f"checkpoint {folder} lists no {name}; {RECOVERY}")
    for name, digest in listed.items():
        path = folder / name
        if not path.is_file():
            raise CheckpointError(f"checkpoint {folder} is missing {name}; {RECOVERY}")
        if _sha256(path) != digest:
            raise CheckpointError(f"checkpoint file {path} does not match its sha256 in "
                                  f"{manifest.name} (torn or edited); {RECOVERY}")
    return listed


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"cannot read {path}: {err}; {RECOVERY}") from None


def load_unit(folder: Path, model: nn.Module, ema: nn.Module | None,
              opt: torch.optim.Optimizer, expected_hash: str) -> dict[str, Any]:
    """Restore model, EMA, optimizer and RNG in place; returns state.json."""
    listed = verify_unit(folder)
    state = json.loads((folder / "state.json").read_text())
    if state.get("config_hash") != expected_hash:
        raise CheckpointError(f"checkpoint {folder} was written by config {state.get('config_hash')}"
                              f", this run is {expected_hash}; {RECOVERY}")
    if (ema is not None) != ("ema.safetensors" in listed):
        raise CheckpointError(f"checkpoint {folder} {'lacks' if ema is not None else 'has'} EMA "
                              f"weights but ema.enabled is {ema is not None}; {RECOVERY}")
    model.load_state_dict(_load_tensors(folder / "model.safetensors"))
    if ema is not None:
        ema.load_state_dict(_load_tensors(folder / "ema.safetensors"))
    opt_tensors = {k: v for k, v in _load_tensors(folder / "optimizer.safetensors").items()
                   if k != "_empty"}
    restore_optimizer(opt, opt_tensors, state["optimizer"])
    rng = _load_tensors(folder / "rng.safetensors")
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["cuda"])
    return state


def model_spec(model: nn.Module) -> dict[str, Any]:
    rep = model.rep
    return {"arch": model.arch, "width": model.width, "num_classes": model.num_classes,
            "in_chans": model.in_chans, "reparam": rep.conv_branches > 1 or rep.scale,
            "conv_branches": rep.conv_branches, "scale": rep.scale, "identity": rep.identity,
            "drop_rate": model.drop_rate}


def export_model(model: nn.Module, path: Path, fused: bool, extra: dict | None = None) -> Path:
    """One safetensors + sidecar JSON (spec, fused flag): enough to rebuild the network."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    _save_tensors(model.state_dict(), tmp)
    os.replace(tmp, path)
    write_json_atomic(path.with_suffix(".json"),
                      {"model": model_spec(model), "fused": fused, **(extra or {})})
    return path


def load_exported(path: str | Path) -> nn.Module:
    """Rebuild an exported model (multi-branch or fused) from its safetensors + JSON, in eval."""
    path = Path(path)
    if path.is_dir():
        path = path / "model_fused.safetensors"
    meta_path = path.with_suffix(".json")
    for p in (path, meta_path):
        if not p.is_file():
            raise FileNotFoundError(f"model file {p} does not exist (an exported model is a "
                                    f"*.safetensors with a *.json beside it)")
    meta = json.loads(meta_path.read_text())
    if "model" not in meta:
        raise CheckpointError(f"{meta_path} has no 'model' field: not an exported model")
    m = meta["model"]
    model = load_model(m["arch"], m["width"], m["num_classes"], m["in_chans"], m["reparam"],
                       m["conv_branches"], m["scale"], m["identity"], m["drop_rate"]).eval()
    if meta.get("fused"):
        reparameterize_model(model)
    state = _load_tensors(path)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not match the model described in {meta_path.name}: "
                              f"{str(err).splitlines()[0]}") from None
    return model
