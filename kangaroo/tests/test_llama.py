"""The layer-split runtime equals HF LlamaForCausalLM (fp32), with and without cache, and the
split at any exit layer equals the full forward."""

from __future__ import annotations

import torch
from conftest import tiny_config
from helpers import reference_greedy
from hypothesis import given, settings
from hypothesis import strategies as st
from kangaroo.assets import random_llama
from kangaroo.decode import Decoder
from kangaroo.drafters import AdapterDrafter
from kangaroo.evaluation import to_hf
from kangaroo.schema import DecodeConfig

configs = st.fixed_dictionaries({
    "num_hidden_layers": st.integers(2, 4),
    "kv": st.sampled_from([(4, 4), (4, 2), (4, 1)]),
    "tie_word_embeddings": st.booleans(),
    "seed": st.integers(0, 50),
})


def build(c: dict):  # noqa: ANN201
    heads, kv = c["kv"]
    cfg = tiny_config(num_hidden_layers=c["num_hidden_layers"], num_attention_heads=heads,
                      num_key_value_heads=kv, tie_word_embeddings=c["tie_word_embeddings"])
    return random_llama(cfg, seed=c["seed"])


@settings(max_examples=20)
@given(configs, st.integers(1, 12))
def test_logits_equal_hf(c: dict, n: int) -> None:
    model = build(c)
    hf = to_hf(model)
    ids = torch.randint(0, 96, (1, n), generator=torch.Generator().manual_seed(n))
    with torch.no_grad():
        torch.testing.assert_close(model(ids), hf(ids).logits, atol=1e-5, rtol=1e-5)


@settings(max_examples=20)
@given(configs, st.integers(1, 10), st.integers(1, 5))
def test_cached_steps_equal_full_forward(c: dict, prefix: int, steps: int) -> None:
    model = build(c)
    ids = torch.randint(0, 96, (1, prefix + steps), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache(4)  # small capacity: growth is exercised too
        parts = [model(ids[:, :prefix], cache)]
        parts += [model(ids[:, i: i + 1], cache) for i in range(prefix, prefix + steps)]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-5)


@settings(max_examples=20)
@given(configs, st.integers(2, 9), st.data())
def test_split_at_exit_layer_equals_full(c: dict, n: int, data: st.DataObject) -> None:
    model = build(c)
    exit_layer = data.draw(st.integers(1, model.num_layers - 1))
    ids = torch.randint(0, 96, (1, n), generator=torch.Generator().manual_seed(3))
    pos = torch.arange(n)
    with torch.no_grad():
        full = model(ids)
        h = model.run_layers(model.embed_tokens(ids), 0, exit_layer, pos)
        split = model.logits(model.run_layers(h, exit_layer, model.num_layers, pos))
        # With one cache: shallow layers run ahead on all tokens, deep layers follow later.
        cache = model.new_cache()
        h1 = model.run_layers(model.embed_tokens(ids), 0, exit_layer, pos, cache)
        assert cache.lengths[:exit_layer] == [n] * exit_layer
        assert cache.lengths[exit_layer:] == [0] * (model.num_layers - exit_layer)
        split_cached = model.logits(model.run_layers(h1, exit_layer, model.num_layers, pos,
                                                     cache))
    torch.testing.assert_close(split, full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(split_cached, full, atol=1e-5, rtol=1e-5)


def test_llama3_rope_scaling_equals_hf() -> None:
    scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 16}
    model = random_llama(tiny_config(rope_scaling=scaling, rope_theta=500000.0), seed=2)
    ids = torch.randint(0, 96, (1, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(ids), to_hf(model)(ids).logits, atol=1e-5, rtol=1e-5)


@settings(max_examples=12)
@given(st.sampled_from(["chain", "tree"]), st.integers(1, 3), st.integers(0, 20))
def test_kept_kv_after_acceptance_equals_fresh_prefill(mode: str, exit_layer: int,
                                                        seed: int) -> None:
    """After decoding (accepted shallow KV reused, rejected slots dropped/compacted), every layer's
    cache equals a fresh prefill of the accepted tokens; the adapter cache plus its pending
    features cover exactly the same positions."""
    from kangaroo.adapter import AdapterSpec, init_adapter

    model = random_llama(tiny_config(), seed=seed)
    adapter = init_adapter(AdapterSpec.for_target(model, "t", exit_layer), model, seed).eval()
    prompt = torch.randint(0, 96, (6,), generator=torch.Generator().manual_seed(seed)).tolist()
    dc = DecodeConfig(gamma=3, eta=0.0, tree_top_k=3, tree_max_nodes=8, max_new_tokens=40)
    drafter = AdapterDrafter(adapter, model)
    dec = Decoder(model, exit_layer, drafter, dc, mode)
    g = dec.run(prompt)
    assert g.tokens == reference_greedy(model, prompt, 40)
    tokens = prompt + g.tokens
    length = dec.cache.lengths[0]
    assert dec.cache.lengths == [length] * model.num_layers  # shallow and deep in step
    # The last cycle's accepted path may run past a max_new_tokens cut: compare the overlap.
    n = min(length, len(tokens))
    assert n >= len(tokens) - 1
    fresh = model.new_cache()
    with torch.no_grad():
        model(torch.tensor([tokens[:n]]), fresh)
    for layer in range(model.num_layers):
        for got, want in zip(dec.cache.read(layer), fresh.read(layer), strict=True):
            torch.testing.assert_close(got[:, :, :n], want, atol=1e-4, rtol=1e-4)
    # The adapter has seen every cached position except the pending (missed) ones.
    assert drafter.length + dec.pending.shape[1] == length


def test_bf16_runs_and_tracks_fp32(tiny_target) -> None:  # noqa: ANN001
    bf = random_llama(tiny_config(), seed=0).to(torch.bfloat16)
    ids = torch.randint(0, 96, (1, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = tiny_target(ids), bf(ids).float()
        hf = to_hf(bf)(ids).logits.float()
    assert (a - b).abs().max() < 0.1 * a.abs().max()
    torch.testing.assert_close(b, hf, atol=0.05, rtol=0.02)
