"""Tiny random Llama targets (fp32), one threads setting, derandomised hypothesis."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import settings
from kangaroo.assets import random_llama
from kangaroo.llama import LlamaConfig

torch.set_num_threads(1)
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def tiny_config(**kw) -> LlamaConfig:  # noqa: ANN003
    base = dict(vocab_size=96, hidden_size=48, intermediate_size=96, num_hidden_layers=4,
                num_attention_heads=4, num_key_value_heads=2, eos_token_id=None,
                max_position_embeddings=512)
    base.update(kw)
    return LlamaConfig(**base)


@pytest.fixture(scope="session")
def tiny_target():
    return random_llama(tiny_config(), seed=0)


@pytest.fixture(scope="session")
def trained_adapter(tiny_target):
    """An adapter trained briefly (exit layer 2) on the target's own greedy continuations."""
    from helpers import train_small_adapter

    return train_small_adapter(tiny_target, exit_layer=2)
