"""`double_rounding-train`: Hydra entry point (single process, torchrun or accelerate launch)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> None:
    from double_rounding.checkpoint import CheckpointError
    from double_rounding.pipeline import run_training
    from double_rounding.schema import ConfigError

    try:
        result = run_training(cfg)
    except (ConfigError, CheckpointError) as err:  # one clear message, exit status 1
        sys.exit(f"error: {err}")
    if result.get("finished_before"):
        print(f"{cfg.out_dir} already holds the finished run with this config:", file=sys.stderr)
    print(json.dumps({k: v for k, v in result.items() if k != "param_checksum"}, indent=2))


if __name__ == "__main__":
    main()
