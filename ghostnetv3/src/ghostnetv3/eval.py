"""`ghostnetv3-eval`: top-1 of the fused model of a run folder or exported checkpoint."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    from ghostnetv3.checkpoint import CheckpointError
    from ghostnetv3.config import ConfigError, parse_eval_config
    from ghostnetv3.data import DataError
    from ghostnetv3.evaluate import run_eval

    try:
        result = run_eval(parse_eval_config(OmegaConf.to_container(cfg, resolve=True)))
    except (ConfigError, CheckpointError, DataError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
