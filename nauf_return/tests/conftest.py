"""Shared fixtures: one thread, a tiny config, and one original model M_o per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

torch.set_num_threads(1)

# Fixed examples by default: a red CI run must be reproducible. HYPOTHESIS_PROFILE=explore
# searches fresh examples locally.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = str(ROOT / "configs")
RETURN_DIR = Path(os.environ.get("RETURN_DATA_DIR", ROOT.parent.parent / "shared/data/return"))

# Small enough to memorise in well under a minute on one thread.
TINY_OVERRIDES = [
    "data.n_persons=6", "data.forget_ratio=0.34", "data.n_bystanders=0",
    "data.lookalikes=false", "injection.lr=5e-3", "injection.epochs=80",
    "injection.check_every=5", "injection.biographies=false", "injection.batch_size=16",
    "model.hidden=64", "threads=1",
]


def compose(overrides: list[str] = (), name: str = "train"):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=CONFIGS, version_base=None):
        return hydra_compose(name, overrides=list(overrides))


@pytest.fixture(scope="session")
def tiny_cfg():
    return compose(TINY_OVERRIDES)


@pytest.fixture(scope="session")
def original(tiny_cfg):
    """(cfg, world, accelerator, M_o, tokenizer, filtered bench, info), built once."""
    from nauf_return import pipeline
    from nauf_return.world import build_world

    world = build_world(tiny_cfg.data)
    accelerator = pipeline.make_accelerator()
    mo, tok, bench, info = pipeline.original_model(tiny_cfg, world, accelerator, None)
    return tiny_cfg, world, accelerator, mo, tok, bench, info
