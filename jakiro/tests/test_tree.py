"""Tree selection and structure: ancestor closure, masks, positions, leaf paths, budget."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from jakiro.tree import select_tree


def random_candidates(seed: int, n: int):  # noqa: ANN201
    """Candidates in creation order with cumulative (non-increasing) log-prob scores."""
    g = torch.Generator().manual_seed(seed)
    parents, scores = [], []
    for i in range(n):
        p = -1 if i < 3 or torch.rand((), generator=g) < 0.2 else int(
            torch.randint(0, i, (1,), generator=g))
        step = -torch.rand((), generator=g).item() * 2
        if torch.rand((), generator=g) < 0.2:
            step = 0.0  # ties between parent and child must still give a closed set
        parents.append(p)
        scores.append((scores[p] if p >= 0 else 0.0) + step)
    tokens = torch.randint(0, 50, (n,), generator=g)
    return tokens, torch.tensor(parents), torch.tensor(scores)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 100_000), n=st.integers(1, 40), budget=st.integers(1, 50),
       prefix=st.integers(0, 30))
def test_selected_tree_invariants(seed, n, budget, prefix):
    tokens, parents, scores = random_candidates(seed, n)
    tree = select_tree(7, tokens, parents, scores, budget)
    size = len(tree)
    assert size == min(budget, n + 1)
    assert tree.tokens[0] == 7 and tree.parents[0] == -1
    par = tree.parents.tolist()
    assert all(0 <= par[i] < i for i in range(1, size))  # rooted at slot 0, topological
    mask = tree.ancestor_mask()
    for i in range(size):
        anc = {i}
        j = i
        while par[j] >= 0:
            j = par[j]
            anc.add(j)
        assert set(torch.nonzero(mask[i]).flatten().tolist()) == anc
        assert int(tree.positions(prefix)[i]) == prefix + len(anc) - 1
    # Selected = the budget-1 best scores (ancestor-closed by construction).
    kept = sorted(tree.scores[1:].tolist(), reverse=True)
    best = sorted(scores.tolist(), reverse=True)[: size - 1]
    assert kept == best
    paths = tree.leaf_paths()
    leaves = [i for i in range(size) if i not in set(par[1:])]
    assert [p[-1] for p in paths] == leaves and all(p[0] == 0 for p in paths)
    for p in paths:
        assert all(par[b] == a for a, b in zip(p, p[1:], strict=False))
