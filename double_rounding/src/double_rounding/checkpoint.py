"""Checkpoints: safetensors + JSON, written to a temporary name and renamed into place.

* `export_int8`: the deployable model, holding only int8 weights, one weight scale per layer,
  per-bit activation scales and per-bit BN (plus the float first/last layers).
* `save_training` / `load_training`: full training state (float weights, both optimizers, step,
  epoch, RNG) so a run resumes where it stopped.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from double_rounding.convert import QuantSpec, quant_layers
from double_rounding.models import load_model


def _atomic_save(tensors: dict[str, torch.Tensor], meta: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, path)
    cfg = path.with_suffix(".json")
    tmp_cfg = cfg.with_name(cfg.name + ".tmp")
    tmp_cfg.write_text(json.dumps(meta, indent=2))
    os.replace(tmp_cfg, cfg)


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


def _read_meta(path: Path) -> dict:
    cfg = path.with_suffix(".json")
    if not path.is_file() or not cfg.is_file():
        raise FileNotFoundError(f"checkpoint {path} needs both {path.name} and {cfg.name}")
    return json.loads(cfg.read_text())


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
    _load_state(model, load_file(str(path)), path)
    return model


def _optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors = {f"{prefix}.{idx}.{k}": (v if torch.is_tensor(v) else torch.tensor(v))
               for idx, state in sd["state"].items() for k, v in state.items()}
    return tensors, {"param_groups": sd["param_groups"]}


def save_training(path: str | Path, model: nn.Module, trainer, extra: dict) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    meta = {**model_meta(model), "format": "training", "step": trainer.step_count,
            "epoch": trainer.epoch, **extra}
    for name in ("opt_weights", "opt_scales"):
        t, m = _optimizer_tensors(name, getattr(trainer, name))
        tensors.update(t)
        meta[name] = m
    tensors["rng.torch"] = torch.get_rng_state()
    _atomic_save(tensors, meta, Path(path))


def load_training(path: str | Path, model: nn.Module, trainer) -> dict:
    """Restore model, optimizers, counters and RNG in place; returns the JSON metadata."""
    path = Path(path)
    meta = _read_meta(path)
    if meta.get("format") != "training":
        raise ValueError(f"checkpoint {path} is not a training checkpoint")
    if meta["arch"] != model.dr_arch:
        raise ValueError(f"checkpoint {path} holds {meta['arch']}, the run builds {model.dr_arch}")
    tensors = load_file(str(path))
    _load_state(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, path)
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
