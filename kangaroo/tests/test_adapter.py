"""The adapter is one attention-only layer plus two norms (no MLP) with the stated parameter
count, and the loss is the paper's soft cross-entropy."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import tiny_config
from kangaroo.adapter import (
    Adapter,
    AdapterSpec,
    expected_parameters,
    init_adapter,
    load_adapter,
    save_adapter,
)
from kangaroo.assets import random_llama
from kangaroo.llama import LlamaConfig, LlamaLM
from kangaroo.losses import expected_acceptance, soft_cross_entropy

SMOLLM2 = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
               num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True)
VICUNA7B = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008,
                num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32)


def meta_target(cfg: dict) -> LlamaLM:
    with torch.device("meta"):
        return LlamaLM(LlamaConfig(**cfg))


@pytest.mark.parametrize(("cfg", "count"), [(SMOLLM2, 885_888), (VICUNA7B, 67_117_056)])
def test_parameter_count_and_budget(cfg: dict, count: int) -> None:
    """SmolLM2-135M: 0.886 M (0.66 % of 134.5 M); Vicuna-7B: 4 d^2 + 2 d = 67.1 M (paper: 67 M)."""
    target = meta_target(cfg)
    c = target.cfg
    spec = AdapterSpec(c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim,
                       c.rms_norm_eps, c.rope_theta, None, 2, "t", "x")
    with torch.device("meta"):
        adapter = Adapter(spec)
    n = sum(p.numel() for p in adapter.parameters())
    assert n == expected_parameters(spec) == count
    assert n <= 0.02 * sum(p.numel() for p in target.parameters())


def test_adapter_has_no_mlp_and_is_causal(tiny_target) -> None:  # noqa: ANN001
    adapter = init_adapter(AdapterSpec.for_target(tiny_target, "t", 2), tiny_target, 0)
    names = {n.split(".")[0] for n, _ in adapter.named_parameters()}
    assert names == {"input_layernorm", "self_attn", "norm"}
    assert not any("mlp" in n or "proj" in n and "self_attn" not in n
                   for n, _ in adapter.named_parameters())
    h = torch.randn(1, 7, 48)
    with torch.no_grad():
        full = adapter(h, torch.arange(7))
        changed = h.clone()
        changed[0, 5:] += 1.0  # the future must not affect earlier positions
        assert torch.allclose(adapter(changed, torch.arange(7))[0, :5], full[0, :5], atol=1e-6)
        cache = adapter.new_cache(2)  # cached incremental == full causal
        steps = torch.cat([adapter(h[:, i:i + 1], torch.tensor([i]), cache) for i in range(7)], 1)
    torch.testing.assert_close(steps, full, atol=1e-5, rtol=1e-5)


def test_soft_cross_entropy_hand_computed() -> None:
    # p = softmax([0, ln 3]) = (1/4, 3/4); q = softmax([ln 2, 0]) = (2/3, 1/3)
    target = torch.tensor([[0.0, math.log(3.0)]])
    draft = torch.tensor([[math.log(2.0), 0.0]])
    want = -(0.25 * math.log(2 / 3) + 0.75 * math.log(1 / 3))
    assert soft_cross_entropy(draft, target).item() == pytest.approx(want, rel=1e-6)
    # sum_v min(p, q) = min(1/4, 2/3) + min(3/4, 1/3) = 1/4 + 1/3
    assert expected_acceptance(draft, target).item() == pytest.approx(7 / 12, rel=1e-6)
    # Minimised (= entropy of p) exactly when q = p.
    ent = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert soft_cross_entropy(target, target).item() == pytest.approx(ent, rel=1e-6)


def test_adapter_for_another_target_or_exit_layer_is_refused(tiny_target, tmp_path) -> None:  # noqa: ANN001
    adapter = init_adapter(AdapterSpec.for_target(tiny_target, "t", 2), tiny_target, 0)
    save_adapter(tmp_path / "a", adapter)
    assert load_adapter(tmp_path / "a", tiny_target, 2) is not None
    with pytest.raises(ValueError, match="exit layer 2.*model.exit_layer=1"):
        load_adapter(tmp_path / "a", tiny_target, 1)
    other = random_llama(tiny_config(), seed=1)
    with pytest.raises(ValueError, match="trained for target"):
        load_adapter(tmp_path / "a", other, 2)
    with pytest.raises(FileNotFoundError, match="adapter.json is missing"):
        load_adapter(tmp_path / "missing", tiny_target, 2)
