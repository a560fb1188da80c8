"""Typed schemas for every config section, checked before any work.

Hydra composes YAML; `parse_train_config` turns the resolved tree into these dataclasses and
rejects unknown keys (also `+key=value` additions), wrong types and out-of-range values with one
error naming the dotted key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from ghostnetv3.ghostnet import WIDTHS
from ghostnetv3.shufflenet_v2 import CHANNELS as SHUFFLENET_WIDTHS


class ConfigError(ValueError):
    """A config value is unknown, of the wrong type or out of range; the message names the key."""


@dataclass
class ModelConfig:
    arch: str = "ghostnetv3"           # ghostnetv3 | mobilenetv2 | shufflenetv2
    width: float = 0.5
    num_classes: int = 10
    in_chans: int = 1
    reparam: bool = True               # False: plain single-branch baseline (same deploy graph)
    conv_branches: int = 3
    scale_branch: bool = True
    identity_branch: bool = True
    drop_rate: float = 0.2

    def check(self) -> None:
        widths = {"ghostnetv3": WIDTHS, "shufflenetv2": tuple(SHUFFLENET_WIDTHS)}
        if self.arch not in ("ghostnetv3", "mobilenetv2", "shufflenetv2"):
            raise ConfigError(f"model.arch {self.arch!r} is unknown; expected ghostnetv3, "
                              f"mobilenetv2 or shufflenetv2")
        allowed = widths.get(self.arch)
        if allowed is not None and self.width not in allowed:
            raise ConfigError(f"model.width {self.width} is not a {self.arch} width; expected one "
                              f"of {allowed}")
        if self.width <= 0:
            raise ConfigError(f"model.width must be > 0, got {self.width}")
        _positive("model", self, "num_classes", "in_chans", "conv_branches")
        _unit("model.drop_rate", self.drop_rate, upper_open=True)


@dataclass
class DataConfig:
    name: str = "fashion_mnist"        # fashion_mnist | imagefolder | synthetic
    root: str | None = None            # null: /usr/share/datasets/fashion-mnist
    image_size: int = 64
    train_limit: int | None = 2000     # low-data regime (first N of a fixed shuffle)
    val_size: int = 1000               # held out from the training file, disjoint from train
    test_limit: int | None = None
    split_seed: int = 0                # the data split is the same for every training seed
    crop_padding: int = 4              # random-crop augmentation (in-memory data)
    hflip: bool = True
    workers: int = 0

    def check(self) -> None:
        if self.name not in ("fashion_mnist", "imagefolder", "synthetic"):
            raise ConfigError(f"data.name {self.name!r} is unknown; expected fashion_mnist, "
                              f"imagefolder or synthetic")
        if self.name == "imagefolder" and not self.root:
            raise ConfigError("data.root must name the ImageFolder directory for data.name="
                              "imagefolder")
        _positive("data", self, "image_size", "val_size")
        for key in ("train_limit", "test_limit"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ConfigError(f"data.{key} must be >= 1 or null, got {value}")
        for key in ("crop_padding", "workers", "split_seed"):
            if getattr(self, key) < 0:
                raise ConfigError(f"data.{key} must be >= 0, got {getattr(self, key)}")


@dataclass
class OptimConfig:
    name: str = "sgd"                  # sgd | adamw | lamb
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 2.0e-5
    epochs: int = 10
    batch_size: int = 64               # per process
    warmup_epochs: float = 1.0
    warmup_lr: float = 1.0e-4
    min_lr: float = 1.0e-5
    grad_clip: float | None = None

    def check(self) -> None:
        if self.name not in ("sgd", "adamw", "lamb"):
            raise ConfigError(f"optim.name {self.name!r} is unknown; expected sgd, adamw or lamb")
        _positive("optim", self, "lr", "epochs", "batch_size")
        for key in ("weight_decay", "warmup_epochs", "warmup_lr", "min_lr"):
            if getattr(self, key) < 0:
                raise ConfigError(f"optim.{key} must be >= 0, got {getattr(self, key)}")
        _unit("optim.momentum", self.momentum, upper_open=True)
        if self.warmup_epochs > self.epochs:
            raise ConfigError(f"optim.warmup_epochs {self.warmup_epochs} exceeds optim.epochs "
                              f"{self.epochs}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"optim.grad_clip must be > 0 or null, got {self.grad_clip}")


@dataclass
class LossConfig:
    label_smoothing: float = 0.1
    kd_weight: float = 0.0             # > 0 turns on knowledge distillation (needs kd.teacher)
    ce_weight: float = 1.0
    temperature: float = 1.0           # the official script ignores it (T=1); we honour it

    def check(self) -> None:
        _unit("loss.label_smoothing", self.label_smoothing, upper_open=True)
        for key in ("kd_weight", "ce_weight"):
            if getattr(self, key) < 0:
                raise ConfigError(f"loss.{key} must be >= 0, got {getattr(self, key)}")
        if self.temperature <= 0:
            raise ConfigError(f"loss.temperature must be > 0, got {self.temperature}")
        if self.kd_weight == 0 and self.ce_weight == 0:
            raise ConfigError("loss.kd_weight and loss.ce_weight are both 0: nothing to train on")


@dataclass
class TeacherConfig:
    # a run folder or *.safetensors trained here, or "timm:<model name>" (then `checkpoint` holds
    # its weights: nothing is downloaded)
    source: str | None = None
    checkpoint: str | None = None

    def check(self) -> None:
        if self.source is not None and self.source.startswith("timm:") and not self.checkpoint:
            raise ConfigError(f"teacher.checkpoint must name the weights of {self.source!r}: "
                              f"pretrained weights are never downloaded")


@dataclass
class EmaConfig:
    enabled: bool = False
    decay: float = 0.999
    every: int = 1                     # update every N optimizer steps

    def check(self) -> None:
        _unit("ema.decay", self.decay, upper_open=True)
        _positive("ema", self, "every")


@dataclass
class MixConfig:
    mixup_alpha: float = 0.0           # the paper finds Mixup/CutMix hurt compact models
    cutmix_alpha: float = 0.0
    prob: float = 1.0
    switch_prob: float = 0.5           # when both are on: chance of CutMix instead of Mixup

    def check(self) -> None:
        for key in ("mixup_alpha", "cutmix_alpha"):
            if getattr(self, key) < 0:
                raise ConfigError(f"mix.{key} must be >= 0, got {getattr(self, key)}")
        _unit("mix.prob", self.prob)
        _unit("mix.switch_prob", self.switch_prob)


@dataclass
class TrainerConfig:
    eval_every: int = 1                # epochs
    checkpoint_every: int = 1          # epochs
    log_every: int = 10                # steps (metrics.jsonl)
    channels_last: bool = False
    bf16: bool = False                 # autocast (CPU or CUDA)
    device: str = "cpu"
    eval_batch_size: int = 256
    distribute_bn: bool = True         # average BN running stats over ranks after each epoch

    def check(self) -> None:
        _positive("trainer", self, "eval_every", "checkpoint_every", "log_every", "eval_batch_size")
        if self.device not in ("cpu", "cuda"):
            raise ConfigError(f"trainer.device {self.device!r} is unknown; expected cpu or cuda")


@dataclass
class TrainConfig:
    experiment_name: str = "tiny"
    out_dir: str = "runs/tiny"
    overwrite: bool = False            # wipe out_dir and start fresh
    seed: int = 0
    threads: int | None = 1            # torch threads (null = torch default)
    progress: bool = True
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    mix: MixConfig = field(default_factory=MixConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def check(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1 or null, got {self.threads}")
        if self.loss.kd_weight > 0 and not self.teacher.source:
            raise ConfigError("loss.kd_weight > 0 needs teacher.source (a run folder, a "
                              "*.safetensors checkpoint or timm:<name>)")
        if self.data.name == "fashion_mnist" and self.model.in_chans != 1:
            raise ConfigError(f"model.in_chans must be 1 for Fashion-MNIST, got "
                              f"{self.model.in_chans}")


@dataclass
class EvalConfig:
    checkpoint: str = ""               # a run folder or a *.safetensors written by training
    split: str = "test"                # test | val
    batch_size: int = 256
    threads: int | None = 1
    data: DataConfig = field(default_factory=DataConfig)
    out: str | None = None             # eval JSON path (default: beside the checkpoint)

    def check(self) -> None:
        if not self.checkpoint:
            raise ConfigError("checkpoint must name a run folder or a *.safetensors file")
        if self.split not in ("test", "val"):
            raise ConfigError(f"split {self.split!r} is unknown; expected test or val")
        _positive("", self, "batch_size")


def _positive(section: str, obj: Any, *keys: str) -> None:
    for key in keys:
        value = getattr(obj, key)
        if value <= 0:
            name = f"{section}.{key}" if section else key
            raise ConfigError(f"{name} must be > 0, got {value}")


def _unit(name: str, value: float, upper_open: bool = False) -> None:
    if value < 0 or value > 1 or (upper_open and value == 1):
        bound = "[0, 1)" if upper_open else "[0, 1]"
        raise ConfigError(f"{name} must be in {bound}, got {value}")


def _coerce(name: str, value: Any, kind: Any) -> Any:
    """Value checked against a field annotation (int accepted where float is declared)."""
    options = typing.get_args(kind) if isinstance(kind, types.UnionType) else (kind,)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{name} must not be null")
    for option in options:
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if option is str and isinstance(value, str):
            return value
    wanted = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    raise ConfigError(f"{name} must be {wanted}, got {value!r} ({type(value).__name__})")


def build(cls: type, data: Any, prefix: str = "") -> Any:
    """Instantiate a schema dataclass from a plain dict, rejecting unknown keys by name."""
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(prefix + k for k in unknown)} at "
                          f"{where}; known keys: {', '.join(sorted(fields))}")
    values = {}
    for key, value in data.items():
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            values[key] = build(kind, value, f"{prefix}{key}.")
        else:
            values[key] = _coerce(prefix + key, value, kind)
    obj = cls(**values)
    obj.check()
    for f in dataclasses.fields(obj):
        sub = getattr(obj, f.name)
        if dataclasses.is_dataclass(sub) and f.name not in data:
            sub.check()
    return obj


def parse_train_config(data: dict) -> TrainConfig:
    data = {k: v for k, v in data.items() if k != "hydra"}
    return build(TrainConfig, data)


def parse_eval_config(data: dict) -> EvalConfig:
    return build(EvalConfig, {k: v for k, v in data.items() if k != "hydra"})


def as_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)
