"""Checkpoints: safetensors + JSON, written to a temporary name and renamed into place.

* `export_int8`: the deployable model, holding only int8 weights, one weight scale per layer,
  per-bit activation scales and per-bit BN (plus the float first/last layers).
* `save_training` / `load_training`: full training state (float weights, both optimizers, step,
  epoch, RNG, ALRS counters, HASB sampler RNG) as one unit: a folder committed by a rename, with
  a manifest of SHA-256 hashes written last; resume verifies the unit before loading it.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from double_rounding.convert import QuantSpec, quant_layers
from double_rounding.models import load_model


def _atomic_save(tensors: dict[str, torch.Tensor], meta: dict, path: Path) -> None:
    """One file, one rename: the metadata lives in the safetensors header (a readable copy is
    written beside it as .json, but loading trusts the header)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp),
              metadata={"dr_meta": json.dumps(meta)})
    os.replace(tmp, path)
    cfg = path.with_suffix(".json")
    tmp_cfg = cfg.with_name(cfg.name + ".tmp")
    tmp_cfg.write_text(json.dumps(meta, indent=2))
    os.replace(tmp_cfg, cfg)


def load_tensors(path: Path, recovery: str) -> dict[str, torch.Tensor]:
    """safetensors load whose errors name the file, what was expected and the way out."""
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist; {recovery}") from None
    except Exception as err:  # SafetensorError: truncated / corrupted header or data
        raise ValueError(f"{path} is not a readable safetensors file ({err}); expected the "
                         f"file written by double_rounding; {recovery}") from None


def model_meta(model: nn.Module) -> dict:
    return {"arch": model.dr_arch, "quant": dataclasses.asdict(model.dr_spec)}


def export_int8(model: nn.Module, path: str | Path) -> dict[str, float]:
    """Write the int8 checkpoint; returns sizes of the quantized layers vs their FP32 weights."""
    if model.dr_spec.scheme != "double_rounding":
        raise ValueError("export_int8 needs the double_rounding scheme (requantize stores FP32)")
    frozen = copy.deepcopy(model).cpu()
    fp32_bytes = int8_bytes = 0
    for _, layer in quant_layers(frozen):
        if not layer.frozen:
            stored = layer.wq.stored_int8(layer.weight)
            fp32_bytes += layer.weight.numel() * 4
            layer.freeze_to_int8(stored)
        int8_bytes += layer.stored.numel() + 4  # + the one float32 weight scale
    path = Path(path)
    _atomic_save(frozen.state_dict(), {**model_meta(model), "format": "int8"}, path)
    return {"quantized_fp32_bytes": fp32_bytes, "quantized_int8_bytes": int8_bytes,
            "ratio": int8_bytes / max(fp32_bytes, 1), "file_bytes": path.stat().st_size}


EXPORT_RECOVERY = "re-export it by re-running the training (overwrite=true for a fresh run)"


def _read_meta(path: Path) -> dict:
    """Metadata from the safetensors header; older exports keep it only in the .json beside."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; {EXPORT_RECOVERY}")
    try:
        with safe_open(str(path), "pt") as f:
            header = (f.metadata() or {}).get("dr_meta")
    except Exception as err:
        raise ValueError(f"{path} is not a readable safetensors file ({err}); "
                         f"{EXPORT_RECOVERY}") from None
    if header is not None:
        return json.loads(header)
    cfg = path.with_suffix(".json")
    if not cfg.is_file():
        raise FileNotFoundError(f"checkpoint {path} needs both {path.name} and {cfg.name}")
    try:
        return json.loads(cfg.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{cfg}: not valid JSON at line {err.lineno} column {err.colno} "
                         f"({err.msg}); {EXPORT_RECOVERY}") from None


def build_from_meta(meta: dict, path: Path, expected_arch: str | None) -> nn.Module:
    arch = meta.get("arch", {})
    if expected_arch is not None and arch.get("arch") != expected_arch:
        raise ValueError(f"checkpoint {path} is a {arch.get('arch')!r} model, "
                         f"expected {expected_arch!r}")
    q = QuantSpec(**meta["quant"])
    return load_model(**arch, bits=q.bits, scheme=q.scheme, rule=q.rule, act_signed=q.act_signed,
                      lsq_grad_scale=q.lsq_grad_scale, transitional_bn=q.transitional_bn)


def _load_state(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise ValueError(f"checkpoint {path} does not match the model "
                         f"({model.dr_arch['arch']}): {first}") from None


def load_int8(path: str | Path, expected_arch: str | None = None) -> nn.Module:
    """Rebuild the switchable model from an int8 checkpoint (forward uses the shift path)."""
    path = Path(path)
    meta = _read_meta(path)
    if meta.get("format") != "int8":
        raise ValueError(f"checkpoint {path} is not an int8 export (format={meta.get('format')})")
    model = build_from_meta(meta, path, expected_arch)
    for _, layer in quant_layers(model):
        layer.freeze_to_int8(torch.zeros_like(layer.weight, dtype=torch.int8))
    _load_state(model, load_tensors(path, EXPORT_RECOVERY), path)
    return model


def _optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors = {f"{prefix}.{idx}.{k}": (v if torch.is_tensor(v) else torch.tensor(v))
               for idx, state in sd["state"].items() for k, v in state.items()}
    return tensors, {"param_groups": sd["param_groups"]}


UNIT_FILES = ("state.safetensors", "meta.json")
MANIFEST = "manifest.json"


class CheckpointError(RuntimeError):
    """A checkpoint unit that cannot be resumed; the message names the file and the way out."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def unit_name(step: int) -> str:
    return f"step-{step:09d}"


def save_training(root: str | Path, model: nn.Module, trainer, extra: dict) -> Path:
    """Write weights, both optimizers, step, epoch, RNG and `extra` as ONE unit.

    The files go into a temporary folder, a manifest with their SHA-256 is written last, and
    the folder is renamed to root/step-N in one step; older units are removed only after that,
    so a kill at any point leaves the previous complete unit or the new one, never a mixture.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    meta = {**model_meta(model), "format": "training", "step": trainer.step_count,
            "epoch": trainer.epoch, **extra}
    for name in ("opt_weights", "opt_scales"):
        t, m = _optimizer_tensors(name, getattr(trainer, name))
        tensors.update(t)
        meta[name] = m
    tensors["rng.torch"] = torch.get_rng_state()
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    save_file(tensors, str(tmp / "state.safetensors"))
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    manifest = {"step": trainer.step_count, "files": {f: _sha256(tmp / f) for f in UNIT_FILES}}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    final = root / unit_name(trainer.step_count)
    if final.exists():  # the same step saved again (a resumed run re-saving): replace it
        shutil.rmtree(final)
    os.rename(tmp, final)
    for old in root.iterdir():
        if old != final and (old.name.startswith("step-") or old.name.startswith(".tmp-")):
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_unit(root: str | Path) -> Path | None:
    """The newest committed unit under root (temporary folders are never committed)."""
    root = Path(root)
    units = sorted(p for p in root.glob("step-*") if p.is_dir()) if root.is_dir() else []
    return units[-1] if units else None


def verify_unit(unit: Path, config_hash: str | None) -> dict:
    """Check the manifest, every file's hash, the step and the config hash; returns the meta."""
    recover = ("; to recover, delete that folder (restart from step 0) or pass overwrite=true "
               "(wipe the run folder)")
    manifest_path = unit / MANIFEST
    if not manifest_path.is_file():
        raise CheckpointError(f"checkpoint {unit} is incomplete: {MANIFEST} is missing"
                              + recover)
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{manifest_path}: not valid JSON at line {err.lineno} column "
                              f"{err.colno} ({err.msg})" + recover) from None
    for name in UNIT_FILES:
        path = unit / name
        if not path.is_file():
            raise CheckpointError(f"checkpoint {unit} is incomplete: {name} is missing" + recover)
        if _sha256(path) != manifest["files"].get(name):
            raise CheckpointError(f"checkpoint file {path} does not match the SHA-256 in "
                                  f"{manifest_path} (torn or modified)" + recover)
    meta = json.loads((unit / "meta.json").read_text())
    if meta.get("format") != "training":
        raise CheckpointError(f"{unit / 'meta.json'}: format {meta.get('format')!r}, expected "
                              "'training'" + recover)
    if meta["step"] != manifest["step"] or unit.name != unit_name(meta["step"]):
        raise CheckpointError(f"checkpoint {unit}: meta.json says step {meta['step']}, the "
                              f"manifest {manifest['step']} (mismatched unit)" + recover)
    if config_hash is not None and meta.get("config_hash") != config_hash:
        raise CheckpointError(f"checkpoint {unit} was written by config {meta.get('config_hash')}"
                              f", this run is {config_hash}" + recover)
    return meta


def load_training(unit: str | Path, model: nn.Module, trainer,
                  config_hash: str | None = None) -> dict:
    """Verify a unit, then restore model, optimizers, counters and RNG in place; returns meta."""
    unit = Path(unit)
    meta = verify_unit(unit, config_hash)
    if meta["arch"] != model.dr_arch:
        raise CheckpointError(f"checkpoint {unit} holds {meta['arch']}, the run builds "
                              f"{model.dr_arch}; pass overwrite=true to start fresh")
    tensors = load_tensors(unit / "state.safetensors", "pass overwrite=true to start fresh")
    _load_state(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, unit)
    for name in ("opt_weights", "opt_scales"):
        state: dict[int, dict] = {}
        for key, v in tensors.items():
            if key.startswith(name + "."):
                _, idx, field = key.split(".", 2)
                state.setdefault(int(idx), {})[field] = v
        getattr(trainer, name).load_state_dict({"state": state, **meta[name]})
    trainer.step_count = meta["step"]
    trainer.epoch = meta["epoch"]
    torch.set_rng_state(tensors["rng.torch"])
    return meta
