"""Train SAM-lite (Hydra main). Single process: ``vsc_sam-train experiment=tiny``;
distributed: ``torchrun --nproc_per_node=2 -m vsc_sam.train`` or ``accelerate launch``.

The checkpoint folder (``checkpoint``, default ``runs/<name>/sam``) is the run folder: it records
the resolved config; the same config resumes (or reports the finished run), another is refused
before any work unless ``overwrite=true``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig

from vsc_sam.checkpoint import atomic_text
from vsc_sam.config import TRAIN_NOT_IDENTITY, TrainSpec, guarded, resolved, train_spec
from vsc_sam.pipeline import describe, load_split
from vsc_sam.run_folder import RECORD, RunFolderError, claim, provenance
from vsc_sam.training import TrainConfig, build_samples, real_pair_samples, train_sam

RESULT = "train_result.json"


def real_samples(spec: TrainSpec, train_cfg: TrainConfig) -> tuple[list, dict[str, int]]:
    """Real training-split matrices of every descriptor in ``spec.descriptors`` (concatenated);
    whitening is fitted on training refs only, the test split is never touched here."""
    real: list = []
    by_kind: dict[str, int] = {}
    if spec.data.negatives_per_query < 0:
        return real, by_kind
    train = load_split(spec.data.train, spec.data.cache_dir)
    for kind in spec.descriptors:
        model_spec = spec.sscd.checkpoint if kind == "sscd" else spec.descriptor.model_spec
        (desc,) = describe(
            kind,
            train,
            [train],
            spec.descriptor.pca_dim,
            spec.descriptor.input_size,
            model_spec,
        )
        rng = np.random.default_rng(train_cfg.seed)
        got = real_pair_samples(train, desc, spec.data.negatives_per_query, rng)
        by_kind[kind] = len(got)
        real += got
    return real, by_kind


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def claim_folder(out_dir: Path, config: dict, overwrite: bool) -> bool:
    """Rank 0 claims (or wipes) the run folder; other torchrun ranks wait for its record."""
    if _rank() == 0:
        return claim(out_dir, config, TRAIN_NOT_IDENTITY, overwrite)
    deadline = time.monotonic() + 120
    while True:
        try:
            if (out_dir / RECORD).is_file():
                return claim(out_dir, config, TRAIN_NOT_IDENTITY, overwrite=False)
        except RunFolderError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise RunFolderError(f"{out_dir}: rank 0 did not create the run record in 120 s")
        time.sleep(0.2)


def run(cfg: DictConfig) -> dict:
    spec = train_spec(cfg)  # every key, type, range and input file checked before any work
    torch.set_num_threads(spec.threads)
    config = resolved(cfg)
    out_dir = Path(spec.checkpoint)
    existing = claim_folder(out_dir, config, spec.overwrite)
    if existing and (out_dir / RESULT).is_file():
        stats = json.loads((out_dir / RESULT).read_text())
        brief = {k: stats.get(k) for k in ("step", "loss", "config_hash", "date")}
        print(f"[train] {out_dir} already finished with this config: {json.dumps(brief)}")
        return stats
    train_cfg = TrainConfig(
        **{k: getattr(spec.trainer, k) for k in TrainConfig.__dataclass_fields__}
    )
    real, by_kind = real_samples(spec, train_cfg)
    samples = build_samples(train_cfg, real)
    model_cfg = {"width": spec.model.width, "depth": spec.model.depth}
    stats = train_sam(samples, train_cfg, model_cfg, out_dir, cpu=spec.trainer.cpu)
    stats.update(
        {
            "real_samples": len(real),
            "real_samples_by_descriptor": by_kind,
            "synthetic_samples": train_cfg.n_synthetic,
            "checkpoint": str(out_dir),
            **provenance(config, TRAIN_NOT_IDENTITY),
        }
    )
    if _rank() == 0:
        atomic_text(out_dir / RESULT, json.dumps(stats, indent=1))
    print(json.dumps({k: stats[k] for k in ("step", "loss", "checkpoint", "config_hash")}))
    return stats


@hydra.main(version_base="1.3", config_path="../../configs", config_name="train")
def main(cfg: DictConfig) -> None:
    guarded(run, cfg)


if __name__ == "__main__":
    main()
