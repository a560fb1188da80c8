"""`double_rounding-eval`: accuracy of an exported int8 checkpoint at every stored bit-width."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    from double_rounding.pipeline import run_eval
    from double_rounding.schema import ConfigError

    try:
        print(json.dumps(run_eval(cfg), indent=2))
    except (ConfigError, FileNotFoundError, ValueError) as err:  # named file / key, exit 1
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
