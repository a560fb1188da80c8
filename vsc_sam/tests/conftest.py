"""Test session setup: one torch thread (2-core CI machine shared with other jobs)."""

import os
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hypothesis import settings

torch.set_num_threads(1)

# Fixed examples by default: a red CI run must be reproducible. HYPOTHESIS_PROFILE=explore
# searches fresh examples locally.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# Tiny Hydra overrides shared by the entry-point tests (seconds per train / eval run).
ROOT = Path(__file__).resolve().parents[1]
TRAIN = [
    "trainer.canvas=32",
    "trainer.batch_size=4",
    "trainer.n_synthetic=16",
    "trainer.steps=3",
    "trainer.checkpoint_every=2",
]
TINY = [
    "model.width=4",
    "model.depth=2",
    "data.train.n_queries=8",
    "data.train.n_refs=4",
    "data.train.frame_size=32",
    "data.test.n_queries=10",
    "data.test.n_refs=4",
    "data.test.frame_size=32",
    "data.train.positive_fraction=0.5",
    "data.test.positive_fraction=0.5",
]
EVAL = ["eval.bootstrap=10", "eval.tile=32", "pair_filter.steps=50"]


def compose_cfg(name, overrides):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose(config_name=name, overrides=overrides)
