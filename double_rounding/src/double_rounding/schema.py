"""Typed schemas of the train / eval configs, checked before any work (issue 15).

Hydra composes YAML; `parse_train` / `parse_eval` turn the composed config into these
dataclasses and reject, naming the dotted key: unknown keys at any level (`+train.typo=1`
included: Hydra's `+` bypasses OmegaConf's struct flag), missing keys, wrong types and
out-of-range values. Nothing is read or built before this passes.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from double_rounding.quantizer import validate_bits


class ConfigError(ValueError):
    """A config value that cannot run; the message names the key and what was expected."""


def _check(*, ge: float | None = None, gt: float | None = None, le: float | None = None,
           choices: tuple | None = None) -> dict:
    return {"ge": ge, "gt": gt, "le": le, "choices": choices}


def spec(default: Any = dataclasses.MISSING, **check: Any) -> Any:
    """A dataclass field carrying its range / choice constraints in the metadata."""
    if isinstance(default, list):
        return field(default_factory=lambda d=default: list(d), metadata=_check(**check))
    return field(default=default, metadata=_check(**check))


@dataclass
class ModelConfig:
    arch: str = spec("resnet20", choices=("resnet20", "resnet18", "resnet50", "mobilenet_v2"))
    num_classes: int = spec(10, ge=2)
    in_channels: int = spec(3, ge=1)
    width: float = spec(1.0, gt=0)
    blocks_per_stage: int = spec(3, ge=1)
    pretrained: str | None = spec(None)


@dataclass
class DataConfig:
    name: str = spec("fashion_mnist",
                     choices=("fashion_mnist", "synthetic", "cifar10", "imagefolder"))
    root: str | None = spec(None)
    train_limit: int | None = spec(None, ge=1)
    test_limit: int | None = spec(None, ge=1)
    image_size: int = spec(32, ge=8)


@dataclass
class QuantConfig:
    bits: list[int] = spec([8, 6, 4, 2])
    scheme: str = spec("double_rounding", choices=("double_rounding", "requantize"))
    rule: str = spec("half_up", choices=("half_up", "half_even", "floor"))
    act_signed: bool | str = spec("auto")
    lsq_grad_scale: bool = spec(True)


@dataclass
class TrainSection:
    mode: str = spec("multi", choices=("multi", "hasb"))
    epochs: int = spec(2, ge=1)
    batch_size: int = spec(64, ge=1)
    lr: float = spec(5e-4, gt=0)
    weight_decay: float = spec(5e-5, ge=0)
    alrs: str = spec("relative", choices=("literal", "relative", "clamped", "eta", "none"))
    kd_weight: float = spec(0.0, ge=0)


@dataclass
class HasbConfig:
    sigma0: float = spec(1.0, gt=0, le=1)
    trace_images: int = spec(256, ge=1)
    trace_samples: int = spec(8, ge=1)
    uniform: bool = spec(False)


@dataclass
class TrainConfig:
    experiment_name: str = spec("tiny")
    out_dir: str = spec("runs/tiny")
    overwrite: bool = spec(False)  # wipe out_dir and start fresh
    resume: bool = spec(True)
    seed: int = spec(0, ge=0)
    threads: int | None = spec(1, ge=1)
    progress: bool = spec(True)
    log_every: int = spec(10, ge=1)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    quant: QuantConfig = field(default_factory=QuantConfig)
    train: TrainSection = field(default_factory=TrainSection)
    hasb: HasbConfig = field(default_factory=HasbConfig)


@dataclass
class EvalConfig:
    experiment_name: str = spec("tiny")
    out_dir: str = spec("runs/tiny")
    checkpoint: str = spec("runs/tiny/model_int8.safetensors")
    eval_bits: list[int] | None = spec(None)
    seed: int = spec(0, ge=0)
    threads: int | None = spec(1, ge=1)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    # the experiment files are shared with training: their training keys are typed and checked
    # here too (a typo in them is still rejected), and unused by eval
    progress: bool = spec(True)
    log_every: int = spec(10, ge=1)
    quant: QuantConfig = field(default_factory=QuantConfig)
    train: TrainSection = field(default_factory=TrainSection)
    hasb: HasbConfig = field(default_factory=HasbConfig)


# keys that only steer the run itself; they may differ between a run and its resume
RUN_CONTROL = ("overwrite", "resume", "progress", "threads")


def _type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, t) for t in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin is list:
        (inner,) = typing.get_args(tp)
        return isinstance(value, list) and all(_type_ok(v, inner) for v in value)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, tp)


def _range_error(value: Any, meta: typing.Mapping) -> str | None:
    if value is None or isinstance(value, (list, bool)):
        return None
    if meta.get("choices") and value not in meta["choices"]:
        return f"one of {list(meta['choices'])}"
    for key, ok, text in (("ge", lambda v, b: v >= b, ">="), ("gt", lambda v, b: v > b, ">"),
                          ("le", lambda v, b: v <= b, "<=")):
        if meta.get(key) is not None and not ok(value, meta[key]):
            return f"{text} {meta[key]}"
    return None


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"config section {prefix.rstrip('.') or '<top>'} must be a mapping, "
                          f"got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"unknown config key(s) {[prefix + k for k in unknown]}; "
                          f"valid keys{' under ' + prefix.rstrip('.') if prefix else ''}: "
                          f"{names}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        if f.name not in data:  # absent: the schema default (eval omits training keys)
            continue
        value, tp = data[f.name], hints[f.name]
        if dataclasses.is_dataclass(tp):
            kwargs[f.name] = _build(tp, value, key + ".")
            continue
        if not _type_ok(value, tp):
            raise ConfigError(f"config key {key} must be of type {_type_name(tp)}, "
                              f"got {value!r} ({type(value).__name__})")
        problem = _range_error(value, f.metadata)
        if problem:
            raise ConfigError(f"config key {key} must be {problem}, got {value!r}")
        kwargs[f.name] = value
    return cls(**kwargs)


def _type_name(tp: Any) -> str:
    return str(tp).replace("typing.", "") if typing.get_origin(tp) else tp.__name__


def _container(cfg: DictConfig | dict) -> dict:
    if isinstance(cfg, DictConfig):
        try:
            return OmegaConf.to_container(cfg, resolve=True)
        except Exception as err:  # an interpolation that cannot resolve
            raise ConfigError(f"config cannot be resolved: {err}") from None
    return cfg


def _check_bits(bits: list[int] | None, key: str) -> None:
    if bits is not None:
        try:
            validate_bits(bits, key)
        except ValueError as err:
            raise ConfigError(str(err)) from None


def _check_act_signed(value: bool | str) -> None:
    if not isinstance(value, bool) and value != "auto":
        raise ConfigError(f"config key quant.act_signed must be true, false or 'auto', "
                          f"got {value!r}")


def parse_train(cfg: DictConfig | dict) -> TrainConfig:
    """The composed train config as a TrainConfig, or one ConfigError naming the key."""
    out = _build(TrainConfig, _container(cfg), "")
    _check_bits(out.quant.bits, "quant.bits")
    _check_act_signed(out.quant.act_signed)
    return out


def parse_eval(cfg: DictConfig | dict) -> EvalConfig:
    out = _build(EvalConfig, _container(cfg), "")
    _check_bits(out.eval_bits, "eval_bits")
    return out


def as_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)
