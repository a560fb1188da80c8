"""`diffusiondialog-train`: Hydra main over trainer.train (single process, torchrun, accelerate)."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from diffusiondialog.trainer import train

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> None:
    ckpt = train(cfg)
    print(f"checkpoint: {ckpt}")


if __name__ == "__main__":
    main()
