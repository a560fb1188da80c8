"""`double_rounding-train`: Hydra entry point (single process, torchrun or accelerate launch)."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> None:
    from double_rounding.pipeline import run_training

    result = run_training(cfg)
    print(json.dumps({k: v for k, v in result.items() if k != "param_checksum"}, indent=2))


if __name__ == "__main__":
    main()
