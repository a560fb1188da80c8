"""``probing_mia-train``: split the corpus, train the BPE tokenizer, the target (B ∪ dup × M)
and the true reference (B only) into ``out_dir``. Same config resumes; another is refused.

Runs single-process or under ``torchrun --nproc_per_node=N -m probing_mia.train`` (gloo on CPU).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch.distributed as dist
from omegaconf import DictConfig

from probing_mia import pipeline, run_folder
from probing_mia.cli import hydra_main, typed
from probing_mia.training import world


def run(raw: DictConfig) -> dict:
    cfg = typed(raw)
    rank, size = world()
    if rank == 0:  # one writer; torchrun stops the other ranks if it refuses the folder
        run_folder.prepare(cfg)
    if size > 1:
        dist.barrier()
    summary = pipeline.train_target(cfg, Path(cfg.out_dir))
    if rank == 0:
        print(json.dumps(summary))
    return summary


main = hydra_main("train", run)

if __name__ == "__main__":
    main()
