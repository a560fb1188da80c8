"""Target runtime: HF equality, prefill/step consistency, tree forward, KV compaction."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from jakiro.assets import random_llama
from jakiro.tree import DraftTree, ancestor_mask

from tests.conftest import tiny_config


def test_logits_equal_hf_llama_fp32():
    from transformers import LlamaConfig as HFConfig
    from transformers import LlamaForCausalLM

    cfg = tiny_config(num_hidden_layers=3, rope_theta=500.0, tie_word_embeddings=False)
    ours = random_llama(cfg, seed=3)
    hf_cfg = HFConfig(vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size,
                      intermediate_size=cfg.intermediate_size,
                      num_hidden_layers=cfg.num_hidden_layers,
                      num_attention_heads=cfg.num_attention_heads,
                      num_key_value_heads=cfg.num_key_value_heads, rope_theta=500.0,
                      rms_norm_eps=cfg.rms_norm_eps, tie_word_embeddings=False)
    hf = LlamaForCausalLM(hf_cfg).eval()
    state = {("model." + k if not k.startswith("lm_head") else k): v
             for k, v in ours.state_dict().items()}
    missing, unexpected = hf.load_state_dict(state, strict=False)
    assert not [m for m in missing if "rotary" not in m] and not unexpected
    ids = torch.randint(0, cfg.vocab_size, (2, 17))
    with torch.no_grad():
        ref = hf(ids).logits
        _, got = ours(ids)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


def test_prefill_equals_prefill_then_step(tiny_target):
    ids = torch.randint(0, 96, (1, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        _, full = tiny_target(ids)
        cache = tiny_target.new_cache(32)
        tiny_target(ids[:, :-1], cache=cache)
        _, step = tiny_target(ids[:, -1:], cache=cache)
    torch.testing.assert_close(step[0, -1], full[0, -1], atol=1e-5, rtol=1e-5)
    assert cache.length == 12


def random_tree(n: int, seed: int, vocab: int) -> DraftTree:
    g = torch.Generator().manual_seed(seed)
    parents = [-1] + [int(torch.randint(0, i, (1,), generator=g)) for i in range(1, n)]
    par = torch.tensor(parents)
    return DraftTree(tokens=torch.randint(0, vocab, (n,), generator=g), parents=par,
                     depth=ancestor_mask(par).sum(1) - 1, scores=torch.zeros(n))


@settings(max_examples=8, deadline=None)
@given(n=st.integers(1, 12), seed=st.integers(0, 10_000), prefix=st.integers(1, 9))
def test_tree_forward_equals_sequential_path(tiny_target, n, seed, prefix):
    tree = random_tree(n, seed, 96)
    ids = torch.randint(0, 96, (1, prefix), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        cache = tiny_target.new_cache(64)
        tiny_target(ids, cache=cache)
        _, tree_logits = tiny_target(tree.tokens[None], tree.positions(prefix)[None], cache,
                                     tree.ancestor_mask())
        par = tree.parents.tolist()
        for i in range(n):
            path = [i]
            while par[path[-1]] >= 0:
                path.append(par[path[-1]])
            seq = torch.cat([ids[0], tree.tokens[path[::-1]]])
            _, ref = tiny_target(seq[None])
            torch.testing.assert_close(tree_logits[0, i], ref[0, -1], atol=1e-4, rtol=1e-4)


def test_kv_after_compaction_equals_fresh_prefill(tiny_target):
    tree = random_tree(9, 5, 96)
    prefix = torch.randint(0, 96, (1, 6), generator=torch.Generator().manual_seed(1))
    leaf = tree.leaf_paths()[-1]
    with torch.no_grad():
        cache = tiny_target.new_cache(64)
        tiny_target(prefix, cache=cache)
        tiny_target(tree.tokens[None], tree.positions(6)[None], cache, tree.ancestor_mask())
        cache.compact(6, torch.tensor(leaf))
        fresh = tiny_target.new_cache(64)
        tiny_target(torch.cat([prefix[0], tree.tokens[leaf]])[None], cache=fresh)
    assert cache.length == fresh.length == 6 + len(leaf)
    for layer in range(tiny_target.cfg.num_hidden_layers):
        for a, b in zip(cache.rows(layer), fresh.rows(layer), strict=True):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
