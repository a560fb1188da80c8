"""Distribution preservation of tree verification (chi-square) and greedy verification."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
import torch
from jakiro.sampling import SamplingConfig, warp
from jakiro.tree import DraftTree, ancestor_mask
from jakiro.verify import verify_greedy, verify_sampling
from scipy.stats import chisquare

V = 8
N = 4_000


def make_tree(tokens: list[int], parents: list[int], child_q=None) -> DraftTree:  # noqa: ANN001
    par = torch.tensor(parents)
    return DraftTree(torch.tensor(tokens), par, ancestor_mask(par).sum(1) - 1,
                     torch.zeros(len(tokens)), child_q or {})


def target_logits(seed: int) -> torch.Tensor:
    """Row 0: first-token logits; row 1 + x: second-token logits given first token x."""
    return 1.5 * torch.randn(1 + V, V, generator=torch.Generator().manual_seed(seed))


def first_two(tree: DraftTree, probs: torch.Tensor, rng: np.random.Generator) -> tuple[int, int]:
    """Two emitted tokens; when a cycle emits one, the next comes from the target directly.

    ``probs`` is the warped table (row 0 first token, row 1 + x second token given x).
    """
    tok = tree.tokens.tolist()
    rows = probs[[0] + [1 + t for t in tok[1:]]]
    v = verify_sampling(tree, None, None, rng, probs=rows)
    out = [tok[s] for s in v.slots[1:]] + [v.next_token]
    if len(out) == 1:
        p = probs[1 + out[0]]
        out.append(int(rng.choice(V, p=p / p.sum())))
    return out[0], out[1]


def joint_expected(table: torch.Tensor, cfg: SamplingConfig) -> torch.Tensor:
    p1 = warp(table[0], cfg)
    return torch.stack([p1[x] * warp(table[1 + x], cfg) for x in range(V)])


def assert_matches(counts: torch.Tensor, expected: torch.Tensor) -> None:
    keep = expected.flatten() > 0
    obs = counts.flatten()[keep].double()
    assert counts.flatten()[~keep].sum() == 0, "sampled a token the warpers forbid"
    exp = expected.flatten()[keep].double()
    exp = exp / exp.sum() * obs.sum()
    if obs.numel() < 2:  # a single allowed outcome: nothing to test beyond "never forbidden"
        return
    # Merge tiny cells so the chi-square approximation holds.
    small = exp < 5
    if small.any():
        obs = torch.cat([obs[~small], obs[small].sum()[None]])
        exp = torch.cat([exp[~small], exp[small].sum()[None]])
    p = chisquare(obs.numpy(), exp.numpy()).pvalue
    assert p > 1e-3, f"chi-square p={p:.2e}"


TREES = {
    # root -> 3 deterministic siblings, first has 2 children, second has a duplicate sibling
    "siblings_and_depth2": ([0, 1, 2, 3, 4, 5], [-1, 0, 0, 0, 1, 1]),
    "duplicate_siblings": ([0, 2, 2, 5, 2, 6], [-1, 0, 0, 0, 1, 1]),
    "chain": ([0, 4, 4], [-1, 0, 1]),
    "root_only": ([0], [-1]),
}
WARPERS = {
    "plain": SamplingConfig(1.0),
    "top_k": SamplingConfig(0.8, top_k=3),
    "top_p": SamplingConfig(1.3, top_p=0.7),
}


CASES = [(t, "plain") for t in TREES] + [
    (t, w) for t in ("siblings_and_depth2", "duplicate_siblings") for w in ("top_k", "top_p")]


@pytest.mark.parametrize(("tree_name", "warp_name"), CASES)
def test_deterministic_tree_preserves_joint_distribution(tree_name, warp_name):
    cfg = WARPERS[warp_name]
    # crc32, not hash(): str hashes change per process, and the test must be reproducible.
    table = target_logits(seed=zlib.crc32(f"{tree_name}/{warp_name}".encode()) % 1000)
    tree = make_tree(*TREES[tree_name])
    rng = np.random.default_rng(0)
    probs = warp(table, cfg).double().numpy()
    counts = torch.zeros(V, V)
    for _ in range(N):
        a, b = first_two(tree, probs, rng)
        counts[a, b] += 1
    assert_matches(counts, joint_expected(table, cfg))
    assert_matches(counts.sum(1), warp(table[0], cfg))


def test_all_rejected_level_resamples_residual():
    """Children are tokens the top-k warper forbids: always rejected, output still exact."""
    cfg = SamplingConfig(1.0, top_k=2)
    table = target_logits(7)
    banned = torch.argsort(table[0])[:3].tolist()
    tree = make_tree([0, *banned], [-1, 0, 0, 0])
    rng = np.random.default_rng(1)
    counts = torch.zeros(V)
    logits = torch.stack([table[0]] + [table[1 + t] for t in banned])
    probs = warp(logits, cfg).double().numpy()
    for _ in range(N // 2):
        v = verify_sampling(tree, logits, cfg, rng, probs=probs)
        assert v.slots == [0]
        counts[v.next_token] += 1
    assert_matches(counts, warp(table[0], cfg))


@pytest.mark.parametrize("qseed", [3, pytest.param(4, marks=pytest.mark.slow)])
def test_stochastic_multidraft_iid_children_exact(qseed):
    """Children drawn i.i.d. from a draft q (duplicates allowed) with the SpecInfer rule; two
    different drafters must both give the target's distribution."""
    cfg = SamplingConfig(1.0, top_p=0.9)
    table = target_logits(11)
    q = torch.softmax(2 * torch.randn(V, generator=torch.Generator().manual_seed(qseed)), -1)
    q64 = q.double().numpy()
    q64 = q64 / q64.sum()
    rng = np.random.default_rng(qseed)
    probs = warp(table, cfg).double().numpy()
    counts = torch.zeros(V, V)
    tree = make_tree([0, 0, 0, 0], [-1, 0, 0, 0], {0: q64})
    for _ in range(N):
        tree.tokens = torch.tensor([0, *rng.choice(V, size=3, p=q64).tolist()])
        a, b = first_two(tree, probs, rng)
        counts[a, b] += 1
    assert_matches(counts, joint_expected(table, cfg))


def test_greedy_verification_longest_accepted_path():
    table = torch.full((6, V), -5.0)
    # argmax: root->2, slot1(token 2)->3, slot2(token 5) irrelevant, slot3(token 3)->7
    table[0, 2] = table[1, 3] = table[3, 7] = table[2, 1] = 5.0
    tree = make_tree([0, 2, 5, 3, 4, 6], [-1, 0, 0, 1, 1, 2])
    v = verify_greedy(tree, table)
    assert v.slots == [0, 1, 3] and v.next_token == 7
    assert math.isclose(float(warp(table[0], SamplingConfig(1.0)).sum()), 1.0, rel_tol=1e-6)
