"""One train + eval run from Hydra overrides, and the provenance every results JSON carries
(resolved config, exact command line, seed, hardware, code version, date)."""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import torch

from probing_mia import pipeline, run_folder
from probing_mia.config import Config, load, to_dict

CONFIGS = str(Path(__file__).resolve().parents[2] / "configs")
PAPER = ("Probing Language Models for Pre-training Data Detection (Liu et al., ACL 2024, "
         "arXiv 2406.01333)")


def compose(overrides: list[str], name: str) -> Config:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=CONFIGS, version_base=None):
        return load(hydra_compose(name, overrides=list(overrides)))


def run_one(overrides: list[str], root: Path) -> tuple[Config, Config, dict]:
    """Train into root/train and evaluate into root/eval (both resumable run folders)."""
    train_cfg = compose([*overrides, f"out_dir={root / 'train'}"], "train")
    torch.set_num_threads(train_cfg.threads)
    pipeline.train_target(train_cfg, run_folder.prepare(train_cfg))
    eval_cfg = compose([*overrides, f"out_dir={root / 'eval'}", f"target_dir={root / 'train'}"],
                       "eval")
    out = run_folder.prepare(eval_cfg)
    done = out / "results.json"
    if done.is_file():
        return train_cfg, eval_cfg, json.loads(done.read_text())
    return train_cfg, eval_cfg, pipeline.evaluate(eval_cfg, out)


def provenance(cfg: Config, threads: int) -> dict:
    try:
        version = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True, timeout=10).stdout.strip() or "unknown"
    except OSError:
        version = "unknown"
    return {
        "config": to_dict(cfg),
        "seed": cfg.seed,
        "hardware": f"{platform.machine()} CPU, {os.cpu_count()} cores (shared), torch "
                    f"{torch.__version__}, {threads} thread(s)",
        "threads": threads,
        # Run from the subproject folder (make demo / make bench call exactly this).
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "code_version": version,
        "date": datetime.date.today().isoformat(),
    }
