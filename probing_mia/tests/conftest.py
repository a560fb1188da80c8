"""Shared fixtures: one torch thread, derandomised hypothesis, tiny models and configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

torch.set_num_threads(1)
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = str(ROOT / "configs")
ARXIVMIA = Path(os.environ.get("ARXIVMIA_DIR", ROOT.parent.parent / "shared/data/arxivmia"))
needs_arxivmia = pytest.mark.skipif(not (ARXIVMIA / "arxiv_mia.jsonl").is_file(),
                                    reason=f"ArxivMIA not found at {ARXIVMIA} (ARXIVMIA_DIR)")

# A training run of a few seconds: small corpus, small model, few steps.
SHORT = ["corpus.n_members=8", "corpus.n_nonmembers=8", "corpus.n_pseudo_members=6",
         "corpus.n_pseudo_nonmembers=6", "corpus.max_background=24", "corpus.duplication=2",
         "model.vocab_size=300", "model.hidden=32", "model.layers=2", "model.heads=2",
         "model.intermediate=64", "model.max_length=64", "trainer.batch_size=8",
         "trainer.max_steps=6", "trainer.save_every=2", "trainer.warmup_steps=2",
         f"corpus.source_dir={ARXIVMIA}"]


def compose(overrides=(), name: str = "train"):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=CONFIGS, version_base=None):
        return hydra_compose(name, overrides=list(overrides))


def typed(overrides=(), name: str = "train"):
    from probing_mia.config import load

    return load(compose(overrides, name))


@pytest.fixture(scope="session")
def small_texts() -> list[str]:
    return [
        "the cat sat on the mat and looked at the dog",
        "a dog ran in the park with a red ball",
        "we study covering spectra of complete metric spaces",
        "large language models memorise rare training strings",
        "the proof uses a compactness argument and a limit",
        "members are texts the model was trained on",
    ] * 2


@pytest.fixture(scope="session")
def tiny_pair(small_texts):
    """(model, tokenizer): a 3-layer random Llama with a BPE vocabulary on small_texts."""
    from probing_mia.config import ModelConfig
    from probing_mia.model import tiny_llama
    from probing_mia.tokenizer import train_bpe

    tokenizer = train_bpe(small_texts, 300)
    cfg = ModelConfig(hidden=32, layers=3, heads=2, intermediate=64, max_length=96)
    return tiny_llama(cfg, len(tokenizer), seed=0), tokenizer
