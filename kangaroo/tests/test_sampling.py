"""T > 0 is exact: the emitted tokens follow the target's warped distribution whatever the
drafter (chi-square with a fixed generator), for the sampled chain and the top-K tree."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_config
from kangaroo.adapter import AdapterSpec, init_adapter
from kangaroo.assets import random_llama
from kangaroo.decode import Decoder, generate
from kangaroo.drafters import AdapterDrafter, EarlyExitDrafter
from kangaroo.sampling import warp
from kangaroo.schema import DecodeConfig
from kangaroo.tree import DraftTree
from scipy.stats import chisquare

V = 8
WARPERS = [(1.0, 0, 1.0), (0.7, 5, 1.0), (1.3, 0, 0.8), (1.0, 4, 0.9)]


def chi_p(counts: torch.Tensor, probs: torch.Tensor) -> float:
    keep = probs > 0
    assert counts[~keep].sum() == 0, "a token outside the warped support was emitted"
    expected = probs[keep] * counts.sum()
    return float(chisquare(counts[keep].numpy(), expected.numpy()).pvalue)


class TableDecoder(Decoder):
    """The verification rule of ``Decoder`` on fixed target logits: p1 at the root and
    p2[x1] after x1 (a two-step 'model' with V tokens)."""

    def __init__(self, dc: DecodeConfig, gen: torch.Generator) -> None:
        self.dc, self.gen, self.sampling = dc, gen, True


def test_warp_matches_definition() -> None:
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0])
    p = warp(logits, 1.0, top_k=3)
    assert (p[3:] == 0).all() and torch.isclose(p.sum(), torch.tensor(1.0))
    q = warp(logits, 1.0, top_p=0.6)  # softmax: .53 .20 .12 ... -> keeps the first two
    assert (q > 0).tolist() == [True, True, False, False, False]
    assert torch.allclose(warp(logits, 0.5), (logits / 0.5).softmax(-1))


CASES = [("chain", WARPERS[0]), ("chain", WARPERS[2]), ("tree", WARPERS[1]),
         ("tree", WARPERS[3]), ("tree_all_rejected", WARPERS[2])]


@pytest.mark.parametrize(("mode", "warper"), CASES)
def test_two_token_joint_is_exact(warper: tuple, mode: str) -> None:
    temp, top_k, top_p = warper
    gen = torch.Generator().manual_seed(1234)
    g2 = torch.Generator().manual_seed(99)
    p1_logits = torch.randn(V, generator=g2) * 1.5
    p2_logits = torch.randn(V, V, generator=g2) * 1.5
    q1_logits = torch.randn(V, generator=g2) * 1.5  # a drafter unlike the target
    q2_logits = torch.randn(V, V, generator=g2) * 1.5
    dc = DecodeConfig(temperature=temp, top_k=top_k, top_p=top_p)
    dec = TableDecoder(dc, gen)
    p1 = warp(p1_logits, temp, top_k, top_p)
    joint = p1[:, None] * warp(p2_logits, temp, top_k, top_p)
    counts = torch.zeros(V, V)
    n = 2500
    for _ in range(n):
        tree = DraftTree(0)
        if mode == "chain":
            q1 = warp(q1_logits, temp, top_k, top_p)
            x1 = int(torch.multinomial(q1, 1, generator=gen))
            a = tree.add(0, x1, 1.0, 1.0, q1)
            q2 = warp(q2_logits[x1], temp, top_k, top_p)
            tree.add(a, int(torch.multinomial(q2, 1, generator=gen)), 1.0, 1.0, q2)
        else:
            # Deterministic top-3 siblings at both levels; the all-rejected variant proposes the
            # three tokens the target likes least at the root.
            order = p1_logits.argsort() if mode != "tree" else q1_logits.argsort(descending=True)
            for x1 in order[:3].tolist():
                a = tree.add(0, x1, 1.0, 1.0)
                for x2 in q2_logits[x1].argsort(descending=True)[:2].tolist():
                    tree.add(a, x2, 1.0, 1.0)
        logits = torch.stack([p1_logits] + [p2_logits[node.token] if node.parent == 0
                                            else torch.zeros(V) for node in tree.nodes[1:]])
        path, emitted = dec._accept(tree, logits)
        toks = [tree.nodes[i].token for i in path[1:]] + [emitted]
        counts[toks[0], toks[1] if len(toks) > 1 else _second(p2_logits, toks[0], dc, gen)] += 1
    assert chi_p(counts.flatten(), joint.flatten()) > 1e-3


def _second(p2_logits: torch.Tensor, x1: int, dc: DecodeConfig, gen: torch.Generator) -> int:
    """When only one token is emitted the next cycle samples the second from the target."""
    return int(torch.multinomial(warp(p2_logits[x1], dc.temperature, dc.top_k, dc.top_p), 1,
                                 generator=gen))


@pytest.mark.parametrize("mode", ["chain", "tree"])
def test_end_to_end_first_token_distribution(mode: str) -> None:
    """Full decode on a tiny-vocabulary target: the first new token ~ warped p (adapter drafts
    in the chain, no-adapter drafts in the tree)."""
    model = random_llama(tiny_config(vocab_size=12), seed=4)
    prompt = [1, 5, 7]
    dc = DecodeConfig(gamma=3, eta=0.0, tree_top_k=3, tree_max_nodes=6, max_new_tokens=1,
                      temperature=0.9, top_k=6, top_p=0.95)
    with torch.no_grad():
        p = warp(model(torch.tensor([prompt]))[0, -1], 0.9, 6, 0.95)
    spec = AdapterSpec.for_target(model, "t", 2)
    drafter = AdapterDrafter(init_adapter(spec, model, 0).eval(), model) if mode == "chain" \
        else EarlyExitDrafter(model)
    gen = torch.Generator().manual_seed(5)
    counts = torch.zeros(12)
    for _ in range(400):
        counts[generate(model, 2, drafter, prompt, dc, mode, generator=gen).tokens[0]] += 1
    assert chi_p(counts, p) > 1e-3
