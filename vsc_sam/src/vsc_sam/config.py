"""Validation of Hydra configs at the entry points, before any expensive work."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from vsc_sam.benchmark import BenchmarkConfig
from vsc_sam.training import TrainConfig

DESCRIPTORS = ("classical", "efficientnet", "sscd")
LOCALISERS = ("tn", "dp", "sam_post", "sam")


class ConfigError(ValueError):
    """A config field is missing, unknown or out of range."""


def split_config(cfg: DictConfig, split: str) -> BenchmarkConfig:
    fields = OmegaConf.to_container(cfg.data[split], resolve=True)
    known = set(BenchmarkConfig.__dataclass_fields__)
    unknown = set(fields) - known
    if unknown:
        raise ConfigError(
            f"data.{split}: unknown fields {sorted(unknown)}; expected some of {sorted(known)}"
        )
    try:
        return BenchmarkConfig(**fields)
    except ValueError as error:
        raise ConfigError(f"data.{split}: {error}") from None


def train_config(cfg: DictConfig) -> TrainConfig:
    fields = OmegaConf.to_container(cfg.trainer, resolve=True)
    fields = {k: v for k, v in fields.items() if k not in ("resume", "cpu")}
    unknown = set(fields) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"trainer: unknown fields {sorted(unknown)}")
    tc = TrainConfig(**fields)
    if tc.steps < 1 or tc.batch_size < 1:
        raise ConfigError(
            f"trainer.steps and trainer.batch_size must be >= 1, got {tc.steps}, {tc.batch_size}"
        )
    return tc


def check_descriptors(cfg: DictConfig) -> list[str]:
    kinds = list(cfg.descriptors)
    bad = [k for k in kinds if k not in DESCRIPTORS]
    if bad or not kinds:
        raise ConfigError(
            f"descriptors: expected a non-empty subset of {list(DESCRIPTORS)}, got {kinds}"
        )
    return kinds


def check_localisers(cfg: DictConfig) -> list[str]:
    names = list(cfg.eval.localisers)
    bad = [n for n in names if n not in LOCALISERS]
    if bad or not names:
        raise ConfigError(
            f"eval.localisers: expected a non-empty subset of {list(LOCALISERS)}, got {names}"
        )
    return names
