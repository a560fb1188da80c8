"""Shared by the bench scripts: compose the real Hydra configs, run (or reuse) a training run."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ghostnetv3.config import parse_train_config
from ghostnetv3.trainer import run_training

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
PAPER = "GhostNetV3: Exploring the Training Strategies for Compact Models (arXiv 2404.11202)"

# the strategy switches of each ablation arm (on top of experiment=tiny)
ARMS: dict[str, list[str]] = {
    "plain": ["model.reparam=false"],
    "reparam": ["model.reparam=true"],
    "kd": ["model.reparam=false", "loss.kd_weight=1.0"],
    "reparam_kd": ["model.reparam=true", "loss.kd_weight=1.0"],
    "full": ["model.reparam=true", "loss.kd_weight=1.0", "ema.enabled=true"],
    "plain_ema": ["model.reparam=false", "ema.enabled=true"],
    "full_mixcut": ["model.reparam=true", "loss.kd_weight=1.0", "ema.enabled=true",
                    "mix.mixup_alpha=0.2", "mix.cutmix_alpha=1.0"],
}


def train(out_dir: Path, overrides: list[str]) -> dict:
    """Train into out_dir (resumes, or returns the finished result when it is already there)."""
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, f"out_dir={out_dir}"])
    return run_training(parse_train_config(OmegaConf.to_container(cfg, resolve=True)))


def arm_overrides(arm: str, teacher: Path | None) -> list[str]:
    extra = list(ARMS[arm])
    if any(o.startswith("loss.kd_weight") for o in extra):
        extra.append(f"teacher.source={teacher}")
    return extra


def command() -> str:
    return " ".join(["python", *sys.argv])


def mean_se(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


# two-sided 95 % Student-t quantiles by degrees of freedom
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
       10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}


def paired_interval(a: list[float], b: list[float]) -> dict:
    """Mean of the per-seed differences a - b with its 95 % t interval."""
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    mean, se = mean_se(diffs)
    df = len(diffs) - 1
    t = T95.get(df, 1.96) if df >= 1 else float("nan")
    return {"mean": mean, "se": se, "ci95": [mean - t * se, mean + t * se], "n": len(diffs)}


def write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    tmp.replace(path)
