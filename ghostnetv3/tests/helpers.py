"""Compose the real Hydra configs (so the YAML files are tested too) into typed configs."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ghostnetv3.config import TrainConfig, parse_train_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def resolved(*overrides: str, name: str = "train") -> dict:
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        cfg = compose(name, overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


def ci_config(out_dir: Path, *overrides: str) -> TrainConfig:
    return parse_train_config(resolved("experiment=ci", f"out_dir={out_dir}", *overrides))
