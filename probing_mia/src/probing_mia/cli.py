"""Entry-point plumbing shared by the Hydra mains: config path, threads, one-line errors."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

from probing_mia import config as config_mod
from probing_mia.config import Config
from probing_mia.errors import ConfigError, DataError

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


def typed(raw: DictConfig) -> Config:
    cfg = config_mod.load(raw)
    torch.set_num_threads(cfg.threads)  # small models: 1 thread is fastest on shared cores
    return cfg


def guarded(fn, raw: DictConfig):
    """Run ``fn(raw)``; a user error becomes one line on stderr and exit status 2 (Hydra would
    print a traceback)."""
    try:
        return fn(raw)
    except (ConfigError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def hydra_main(config_name: str, fn):
    """A console-script ``main()`` that composes ``configs/<config_name>.yaml`` and runs
    ``fn`` under ``guarded``."""

    @hydra.main(config_path=CONFIG_DIR, config_name=config_name, version_base=None)
    def _main(raw: DictConfig) -> None:
        guarded(fn, raw)

    return _main
