"""State-dict interop with timm's `ghostnetv3_*` and the official checkpoint layout.

Our modules carry their own names (`primary.convs.0`, `cheap.identity`, `dfc.layers`, ...); this
module maps timm's names (`primary_rpr_conv.0`, `cheap_rpr_skip`, `short_conv`, ...) and the
official release's (`bn.` where timm says `bn1.`, thop `total_ops`/`total_params` buffers,
`state_dict` / `state_dict_ema`) onto them, for both the multi-branch and the deploy (fused) form.
timm itself is never imported here: only its key layout is known.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from ghostnetv3.ghostnet import WIDTHS, make_divisible

# (pattern, replacement), applied in order to every timm/official key
_RULES: tuple[tuple[str, str], ...] = (
    (r"^conv_stem\.", "stem.conv."),
    (r"^bn1\.", "stem.bn."),
    (r"\.primary_rpr_conv\.(\d+)\.", r".primary.convs.\1."),
    (r"\.cheap_rpr_conv\.(\d+)\.", r".cheap.convs.\1."),
    (r"\.cheap_rpr_scale\.", ".cheap.scale."),
    (r"\.cheap_rpr_skip\.", ".cheap.identity."),
    (r"\.dw_rpr_conv\.(\d+)\.", r".conv_dw.convs.\1."),
    (r"\.dw_rpr_scale\.", ".conv_dw.scale."),
    (r"\.short_conv\.", ".dfc.layers."),
    # deploy form: timm's fused convs
    (r"\.primary_conv\.0\.", ".primary.fused."),
    (r"\.cheap_operation\.0\.", ".cheap.fused."),
    (r"\.conv_dw\.(weight|bias)$", r".conv_dw.fused.\1"),
    (r"\.bn1\.", ".bn."),
)
_DROPPED = re.compile(r"(total_ops|total_params)$")


def timm_to_ours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a timm / official GhostNetV3 state dict to this package's module names."""
    out = {}
    for key, value in state.items():
        key = key.removeprefix("module.")  # DDP-wrapped checkpoints
        if _DROPPED.search(key):
            continue
        for pattern, repl in _RULES:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def width_of(state: dict[str, torch.Tensor]) -> float | None:
    """The GhostNetV3 width whose stem has as many channels as this state dict's stem."""
    stem = state.get("stem.conv.weight")
    if stem is None:
        return None
    return next((w for w in WIDTHS if make_divisible(16 * w, 4) == stem.shape[0]), None)


def load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Strict load with one clear message: a width mismatch is named as such."""
    theirs = width_of(state)
    ours = getattr(model, "width", None)
    if theirs is not None and ours is not None and theirs != ours:
        raise ValueError(f"{source} holds a GhostNetV3 {theirs}x model but the model is {ours}x; "
                         f"set model.width={theirs} or use a checkpoint of width {ours}")
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(f"{source} does not match the model: missing {missing[:5]} "
                         f"({len(missing)} in all), unexpected {unexpected[:5]} "
                         f"({len(unexpected)} in all); a fused (deploy) checkpoint needs a "
                         f"reparameterized model and vice versa")
    bad = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state.items()
           if v.shape != own[k].shape]
    if bad:
        k, got, want = bad[0]
        raise ValueError(f"{source}: {k} has shape {got}, the model expects {want} "
                         f"({len(bad)} mismatched tensors; check model.width / num_classes)")
    model.load_state_dict(state, strict=True)


def load_timm_state_dict(model: nn.Module, state: dict[str, torch.Tensor],
                         source: str = "timm state dict") -> nn.Module:
    load_into(model, timm_to_ours(state), source)
    return model


def read_weights(path: str | Path, ema: bool = True) -> dict[str, torch.Tensor]:
    """A state dict from *.safetensors or a torch file; from an official/timm training checkpoint
    its `state_dict_ema` (when `ema` and present) or `state_dict`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict):
        raise ValueError(f"{path} does not hold a state dict (got {type(blob).__name__})")
    if ema and "state_dict_ema" in blob:
        return blob["state_dict_ema"]
    if "state_dict" in blob:
        return blob["state_dict"]
    if any(not torch.is_tensor(v) for v in blob.values()):
        raise ValueError(f"{path} has neither 'state_dict' nor 'state_dict_ema' "
                         f"(keys: {sorted(blob)[:5]}); is it an official GhostNetV3 checkpoint?")
    return blob


def load_official_checkpoint(model: nn.Module, path: str | Path, ema: bool = True) -> nn.Module:
    """The official `ghostnetv3-*.pth.tar` (keys `state_dict`, `state_dict_ema`)."""
    return load_timm_state_dict(model, read_weights(path, ema), str(path))
