"""Train SAM-lite (Hydra main). Single process: ``vsc_sam-train experiment=tiny``;
distributed: ``torchrun --nproc_per_node=2 -m vsc_sam.train`` or ``accelerate launch``."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from vsc_sam.checkpoint import read_state
from vsc_sam.config import ConfigError, check_descriptors, split_config, train_config
from vsc_sam.pipeline import describe, load_split
from vsc_sam.training import build_samples, real_pair_samples, train_sam


def sscd_checkpoint(cfg: DictConfig, train) -> str:
    """The stored SSCD checkpoint whose descriptors give SAM's real training matrices. SAM
    training never trains SSCD itself (the eval step does, on the training split); a checkpoint
    trained on any video outside this training split is refused."""
    folder = str(cfg.sscd.checkpoint)
    state = read_state(folder)
    if state is None:
        raise ConfigError(
            f"sscd.checkpoint={folder!r}: no SSCD checkpoint (state.json); run the eval step with "
            "descriptors=[...,sscd] first (it trains SSCD on the training split) or drop sscd "
            "from descriptors"
        )
    allowed = set(train.queries) | set(train.refs)
    outside = sorted(set(state["config"]["train_video_ids"]) - allowed)
    if outside:
        raise ConfigError(
            f"sscd.checkpoint={folder}: trained on {len(outside)} videos outside the training "
            f"split (e.g. {outside[:3]}); SAM must not see test data"
        )
    return folder


def run(cfg: DictConfig) -> dict:
    torch.set_num_threads(int(cfg.threads))
    kinds = check_descriptors(cfg)
    train_cfg = train_config(cfg)
    train_split = split_config(cfg, "train")
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    real: list = []
    real_by_kind: dict[str, int] = {}
    if cfg.data.negatives_per_query >= 0:
        train = load_split(train_split, cfg.data.cache_dir)
        # Whitening is fitted on training refs only; the test split is never touched here.
        # ``descriptors`` selects whose training-split matrices SAM learns from (all concatenated).
        for kind in kinds:
            spec = sscd_checkpoint(cfg, train) if kind == "sscd" else cfg.descriptor.model_spec
            (desc,) = describe(
                kind,
                train,
                [train],
                cfg.descriptor.pca_dim,
                cfg.descriptor.input_size,
                spec,
            )
            rng = np.random.default_rng(train_cfg.seed)
            got = real_pair_samples(train, desc, int(cfg.data.negatives_per_query), rng)
            real_by_kind[kind] = len(got)
            real += got
    samples = build_samples(train_cfg, real)
    out_dir = Path(str(cfg.checkpoint))
    stats = train_sam(
        samples, train_cfg, model_cfg, out_dir, resume=bool(cfg.trainer.resume), cpu=cfg.trainer.cpu
    )
    stats.update(
        {
            "real_samples": len(real),
            "real_samples_by_descriptor": real_by_kind,
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
