"""The distillation teacher: a model trained here (run folder or exported safetensors) or any timm
architecture with local weights. Resolved and checked before training starts."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ghostnetv3.checkpoint import load_exported
from ghostnetv3.config import ConfigError, TeacherConfig
from ghostnetv3.timm_interop import read_weights


def _timm_teacher(name: str, checkpoint: str, num_classes: int, in_chans: int) -> nn.Module:
    try:
        import timm
    except ImportError:
        raise ConfigError(f"teacher.source {name!r} needs timm: pip install "
                          f"'ghostnetv3[timm]'") from None
    arch = name.removeprefix("timm:")
    if arch not in timm.list_models():
        raise ConfigError(f"teacher.source {name!r}: timm has no model {arch!r}")
    path = Path(checkpoint)
    if not path.is_file():
        raise ConfigError(f"teacher.checkpoint {path} does not exist")
    state = read_weights(path)
    model = timm.create_model(arch, pretrained=False, num_classes=num_classes, in_chans=in_chans)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ConfigError(f"teacher.checkpoint {path} does not fit timm {arch!r} with "
                          f"{num_classes} classes: {str(err).splitlines()[0]}") from None
    return model


def load_teacher(cfg: TeacherConfig, num_classes: int, in_chans: int) -> nn.Module | None:
    """The frozen teacher in eval mode (fused when it is one of ours), or None."""
    if not cfg.source:
        return None
    if cfg.source.startswith("timm:"):
        model = _timm_teacher(cfg.source, cfg.checkpoint or "", num_classes, in_chans)
    else:
        path = Path(cfg.source)
        if not path.exists():
            raise ConfigError(f"teacher.source {path} does not exist (expected a run folder, an "
                              f"exported *.safetensors, or timm:<name>)")
        model = load_exported(path)
        if model.num_classes != num_classes or model.in_chans != in_chans:
            raise ConfigError(f"teacher {path} predicts {model.num_classes} classes from "
                              f"{model.in_chans} channels; the student needs {num_classes} from "
                              f"{in_chans}")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
