"""Evaluation behind `ghostnetv3-eval`: always the fused (deploy) model."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from ghostnetv3.checkpoint import load_exported
from ghostnetv3.config import ConfigError, EvalConfig
from ghostnetv3.data import load_splits
from ghostnetv3.reparam import is_fused, reparameterize_model
from ghostnetv3.run_folder import write_json_atomic
from ghostnetv3.trainer import hardware, labels_of, predict, top1


def run_eval(cfg: EvalConfig) -> dict[str, Any]:
    path = Path(cfg.checkpoint)
    if not path.exists():
        raise ConfigError(f"checkpoint {path} does not exist (a run folder or *.safetensors)")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    model = load_exported(path)
    if not is_fused(model):
        reparameterize_model(model)  # evaluation scores the deploy form
    splits = load_splits(cfg.data, model.in_chans)
    if splits.num_classes != model.num_classes:
        raise ConfigError(f"{path} predicts {model.num_classes} classes, data.name="
                          f"{cfg.data.name} has {splits.num_classes}")
    data = getattr(splits, cfg.split)
    acc = top1(predict(model, data, cfg.batch_size), labels_of(data))
    result = {"checkpoint": str(path), "split": cfg.split, "top1_fused": acc, "images": len(data),
              "command": " ".join(sys.argv), "hardware": hardware(),
              "date": datetime.now(UTC).strftime("%Y-%m-%d")}
    out = Path(cfg.out) if cfg.out else (path if path.is_dir() else path.parent) / f"eval_{cfg.split}.json"
    write_json_atomic(out, result)
    return result
