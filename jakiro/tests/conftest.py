"""Shared fixtures: tiny random Llama targets (fp32) and one small trained draft head."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import settings
from jakiro.assets import random_llama
from jakiro.llama import LlamaConfig

torch.set_num_threads(1)

# Fixed examples by default: a red CI run must be reproducible. HYPOTHESIS_PROFILE=explore
# searches fresh examples locally.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def tiny_config(**kw) -> LlamaConfig:  # noqa: ANN003
    base = dict(vocab_size=96, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, rope_theta=10000.0,
                max_position_embeddings=512, eos_token_id=None)
    base.update(kw)
    return LlamaConfig(**base)


@pytest.fixture(scope="session")
def tiny_target():
    return random_llama(tiny_config(), seed=0)


@pytest.fixture(scope="session")
def learnable_target():
    """A tiny target whose attention is damped, so its next token depends mostly on the
    current one: a short training run then gives a head with clearly non-trivial acceptance."""
    model = random_llama(tiny_config(), seed=5)
    with torch.no_grad():
        for layer in model.layers:
            layer.self_attn.o_proj.weight.mul_(0.02)
    return model


@pytest.fixture(scope="session")
def trained_fixture(learnable_target, tmp_path_factory):
    """A Jakiro and an EAGLE head trained briefly on the target's own greedy text."""
    from tests.helpers import train_tiny_heads

    return train_tiny_heads(learnable_target, tmp_path_factory.mktemp("heads"))
