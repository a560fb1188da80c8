"""`ghostnetv3-train`: Hydra entry point (single process or `torchrun --nproc_per_node=N`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> None:
    from ghostnetv3.checkpoint import CheckpointError
    from ghostnetv3.config import ConfigError, parse_train_config
    from ghostnetv3.data import DataError
    from ghostnetv3.run_folder import RunFolderError
    from ghostnetv3.trainer import run_training

    try:
        config = parse_train_config(OmegaConf.to_container(cfg, resolve=True))
        result = run_training(config)
    except (ConfigError, RunFolderError, CheckpointError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    keys = ("test_top1_fused", "test_top1_multibranch", "fused_vs_multibranch_max_rel",
            "best_val_top1", "deploy_params", "deploy_macs", "train_seconds")
    print(json.dumps({k: result.get(k) for k in keys}, indent=2))


if __name__ == "__main__":
    main()
