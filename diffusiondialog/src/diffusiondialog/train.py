"""`diffusiondialog-train`: Hydra main over trainer.train (single process, torchrun, accelerate)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from diffusiondialog.checkpoint import CheckpointError
from diffusiondialog.data import DataError
from diffusiondialog.schema import ConfigError
from diffusiondialog.trainer import train

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> None:
    try:
        ckpt = train(cfg)
    except (ConfigError, CheckpointError, DataError, FileNotFoundError) as err:
        # One clear message and a non-zero exit, not a traceback.
        print(f"diffusiondialog-train: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"checkpoint: {ckpt}")


if __name__ == "__main__":
    main()
