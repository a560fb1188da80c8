"""Train SAM-lite (Hydra main). Single process: ``vsc_sam-train experiment=tiny``;
distributed: ``torchrun --nproc_per_node=2 -m vsc_sam.train`` or ``accelerate launch``."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from vsc_sam.config import check_descriptors, split_config, train_config
from vsc_sam.pipeline import describe, load_split
from vsc_sam.training import build_samples, real_pair_samples, train_sam


def run(cfg: DictConfig) -> dict:
    torch.set_num_threads(int(cfg.threads))
    kinds = check_descriptors(cfg)
    train_cfg = train_config(cfg)
    train_split = split_config(cfg, "train")
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    real = []
    if cfg.data.negatives_per_query >= 0:
        train = load_split(train_split, cfg.data.cache_dir)
        # Whitening is fitted on training refs only; the test split is never touched here.
        for kind in kinds:
            (desc,) = describe(
                kind,
                train,
                [train],
                cfg.descriptor.pca_dim,
                cfg.descriptor.input_size,
                cfg.descriptor.model_spec,
            )
            rng = np.random.default_rng(train_cfg.seed)
            real += real_pair_samples(train, desc, int(cfg.data.negatives_per_query), rng)
    samples = build_samples(train_cfg, real)
    out_dir = Path(cfg.output_dir) / "sam"
    stats = train_sam(
        samples, train_cfg, model_cfg, out_dir, resume=bool(cfg.trainer.resume), cpu=cfg.trainer.cpu
    )
    stats.update(
        {
            "real_samples": len(real),
            "synthetic_samples": train_cfg.n_synthetic,
            "checkpoint": str(out_dir),
        }
    )
    print(json.dumps(stats))
    return stats


@hydra.main(version_base="1.3", config_path="../../configs", config_name="train")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
