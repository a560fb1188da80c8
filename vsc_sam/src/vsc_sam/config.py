"""The typed schemas of the train and eval configs, checked at the entry points before any work.

``train_spec`` / ``eval_spec`` turn a composed Hydra config into dataclasses (unknown keys in every
section and at the top level rejected, types and ranges checked, see ``schema.py``) and check the
files the run will read (checkpoints, descriptor weights) so a bad path fails in seconds, not after
splits and descriptors have been computed.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from vsc_sam.benchmark import BenchmarkConfig, BenchmarkFileError
from vsc_sam.checkpoint import CheckpointError, read_state
from vsc_sam.localization.dynamic_programming import DynamicProgramming
from vsc_sam.localization.temporal_network import TemporalNetwork
from vsc_sam.pair_filter import PairFilterConfig
from vsc_sam.run_folder import RunFolderError
from vsc_sam.schema import ConfigError, bounded, check_section, overlay
from vsc_sam.sscd import SSCDConfig
from vsc_sam.training import TrainConfig

DESCRIPTORS = ("classical", "efficientnet", "sscd")
LOCALISERS = ("tn", "dp", "sam_post", "sam")
# Keys that do not change what a run computes: excluded from the run-folder identity
# (eval.output / eval.headline only say where and how the result is published; experiment files set sections of both entry
# points, and train does not read eval's, nor eval the trainer's: eval records the fingerprint of
# the SAM checkpoints it reads instead).
NOT_IDENTITY = ("overwrite", "threads", "eval.output", "eval.headline")
TRAIN_NOT_IDENTITY = (*NOT_IDENTITY, "eval", "pair_filter", "tn", "dp")
EVAL_NOT_IDENTITY = (*NOT_IDENTITY, "trainer")

__all__ = ["ConfigError", "DESCRIPTORS", "LOCALISERS", "train_spec", "eval_spec", "guarded"]
# Errors caused by the user's config or files: one message and exit status 2, no traceback.
USER_ERRORS = (ConfigError, RunFolderError, CheckpointError, BenchmarkFileError)


def guarded(run: Callable[[DictConfig], dict], cfg: DictConfig) -> None:
    """Run an entry point; a user error prints one ``error: ...`` line and exits with status 2."""
    try:
        run(cfg)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(2)


@dataclass
class DataSection:
    train: BenchmarkConfig
    test: BenchmarkConfig
    cache_dir: str | None = "runs/cache"
    negatives_per_query: int = bounded(1, low=-1)  # -1: synthesised matrices only


@dataclass
class ModelSection:
    width: int = bounded(16, low=1)
    depth: int = bounded(3, low=1, high=6)


@dataclass
class DescriptorSection:
    pca_dim: int = bounded(64, low=1)
    input_size: int = bounded(128, low=16)
    model_spec: str = "efficientnet-lite0"


@dataclass
class TrainerSection(TrainConfig):
    cpu: bool | None = None  # None: CPU unless CUDA is available


@dataclass
class EvalSection:
    checkpoint: str
    run_dir: str
    output: str
    localisers: list[str] = bounded(list(LOCALISERS), choices=LOCALISERS)
    beta: float = bounded(1.0, low=0.0)
    k_per_query: int = bounded(300, low=1)
    pairs_per_query: int = bounded(25, low=1)
    localise_per_query: int = bounded(5, low=1)
    bootstrap: int = bounded(200, low=0)
    seed: int = 0
    raw_range: tuple[float, float] = (0.2, 0.9)
    tile: int = bounded(128, low=8)
    extra_sam: dict[str, str] = field(default_factory=dict)
    # {TN field: [values]}: every combination is scored as localiser tn_grid<i> (parameter search
    # on a validation split; bench/select_settings.py applies the selection rule)
    tn_grid: dict[str, list[Any]] = field(default_factory=dict)
    value: str | None = None
    headline: bool = False


@dataclass
class SSCDSection(SSCDConfig):
    checkpoint: str = ""


@dataclass
class PairFilterSection(PairFilterConfig):
    enabled: bool = True


@dataclass(kw_only=True)
class RunSpec:
    """Top-level keys both entry points share."""

    data: DataSection
    model: ModelSection
    descriptor: DescriptorSection
    output_dir: str
    name: str
    descriptors: list[str] = bounded(["classical"], choices=DESCRIPTORS)
    threads: int = bounded(1, low=1)
    overwrite: bool = False


@dataclass(kw_only=True)
class TrainSpec(RunSpec):
    trainer: TrainerSection
    sscd: overlay(SSCDSection)
    checkpoint: str
    # set by shared experiment files for the eval step; checked here, not read
    eval: overlay(EvalSection) | None = None
    pair_filter: overlay(PairFilterSection) | None = None
    tn: overlay(TemporalNetwork) | None = None
    dp: overlay(DynamicProgramming) | None = None


@dataclass(kw_only=True)
class EvalSpec(RunSpec):
    eval: EvalSection
    sscd: SSCDSection
    pair_filter: PairFilterSection
    tn: TemporalNetwork
    dp: DynamicProgramming
    trainer: overlay(TrainerSection) | None = None  # set by shared experiment files; not read here


def resolved(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)


def _common_checks(spec: RunSpec) -> None:
    if not spec.descriptors:
        raise ConfigError(f"descriptors: expected a non-empty subset of {list(DESCRIPTORS)}")
    if "efficientnet" in spec.descriptors:
        from vsc_sam.descriptors import EMBEDDED_MODELS

        model_spec = spec.descriptor.model_spec
        if model_spec not in EMBEDDED_MODELS and not Path(model_spec).is_file():
            raise ConfigError(
                f"descriptor.model_spec={model_spec!r}: expected an alias in "
                f"{sorted(EMBEDDED_MODELS)} or an existing .pth file"
            )


def train_spec(cfg: DictConfig) -> TrainSpec:
    spec = check_section(resolved(cfg), TrainSpec)
    _common_checks(spec)
    if spec.trainer.canvas % 2**spec.model.depth:
        raise ConfigError(
            f"trainer.canvas={spec.trainer.canvas}: must be a multiple of 2**model.depth "
            f"(= {2**spec.model.depth})"
        )
    if "sscd" in spec.descriptors:
        if not spec.sscd.checkpoint:
            raise ConfigError("sscd.checkpoint: required when descriptors include sscd")
        state = _stored_state("sscd.checkpoint", spec.sscd.checkpoint)
        if state is None:
            raise ConfigError(
                f"sscd.checkpoint={spec.sscd.checkpoint!r}: no SSCD checkpoint there; run the "
                "eval step with descriptors=[...,sscd] first (it trains SSCD on the training "
                "split) or drop sscd from descriptors"
            )
        outside = sorted(set(state["config"]["train_video_ids"]) - split_ids(spec.data.train))
        if outside:
            raise ConfigError(
                f"sscd.checkpoint={spec.sscd.checkpoint}: trained on {len(outside)} videos "
                f"outside the training split (e.g. {outside[:3]}); SAM must not see test data"
            )
    return spec


def eval_spec(cfg: DictConfig) -> EvalSpec:
    spec = check_section(resolved(cfg), EvalSpec)
    _common_checks(spec)
    if not spec.eval.localisers:
        raise ConfigError(f"eval.localisers: expected a non-empty subset of {list(LOCALISERS)}")
    if (
        "sam" in spec.eval.localisers
        and _stored_state("eval.checkpoint", spec.eval.checkpoint) is None
    ):
        raise ConfigError(
            f"eval.checkpoint={spec.eval.checkpoint}: no SAM checkpoint; run vsc_sam-train first "
            "or drop 'sam' from eval.localisers"
        )
    for label, folder in spec.eval.extra_sam.items():
        if f"sam_{label}" in LOCALISERS or not label.isidentifier():
            raise ConfigError(
                f"eval.extra_sam.{label}: label must be an identifier not giving 'sam_{label}'"
            )
        if _stored_state(f"eval.extra_sam.{label}", folder) is None:
            raise ConfigError(f"eval.extra_sam.{label}={folder}: no SAM checkpoint there")
    names = set(spec.eval.localisers) | {f"sam_{k}" for k in spec.eval.extra_sam}
    names |= set(tn_grid(spec))
    if spec.eval.value is not None and spec.eval.value not in names:
        raise ConfigError(f"eval.value={spec.eval.value}: not among the localisers {sorted(names)}")
    if "sscd" in spec.descriptors:
        _stored_state("sscd.checkpoint", spec.sscd.checkpoint)  # absent is fine: eval trains it
    if split_ids(spec.data.train) & split_ids(spec.data.test):
        raise ConfigError(
            "data.train and data.test id ranges overlap; use distinct id_offset values"
        )
    lo, hi = spec.eval.raw_range
    if not lo < hi:
        raise ConfigError(f"eval.raw_range: expected low < high, got {[lo, hi]}")
    return spec


def tn_grid(spec: EvalSpec) -> dict[str, TemporalNetwork]:
    """The TN variants of ``eval.tn_grid`` (every combination), each checked like ``tn``."""
    grid = spec.eval.tn_grid
    if not grid:
        return {}
    out = {}
    for i, values in enumerate(itertools.product(*grid.values())):
        settings = {**dataclasses.asdict(spec.tn), **dict(zip(grid, values, strict=True))}
        out[f"tn_grid{i}"] = check_section(settings, TemporalNetwork, f"eval.tn_grid[{i}]")
    return out


def split_ids(split: BenchmarkConfig) -> set[str]:
    """The video ids a split will hold (known from its config, before it is generated)."""
    return {f"Q{split.id_offset + i:06d}" for i in range(split.n_queries)} | {
        f"R{split.id_offset + i:06d}" for i in range(split.n_refs)
    }


def _stored_state(key: str, folder: str) -> dict | None:
    """The checkpoint state in ``folder`` (None if there is none); a torn or corrupted
    checkpoint is a ConfigError naming the key and the file."""
    try:
        return read_state(folder)
    except CheckpointError as error:
        raise ConfigError(f"{key}={folder}: {error}") from None
