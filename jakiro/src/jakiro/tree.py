"""Draft trees: selection of the best-scoring candidates, ancestor masks, positions, leaf paths."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class DraftTree:
    """Slot 0 is the root (the newest committed token, not yet in the target cache).

    ``parents[i] < i`` for every non-root slot, so slots are in topological order.
    ``child_q[p]`` is set when the children of slot p were sampled i.i.d. from a draft
    distribution q (stochastic multi-draft); otherwise children are deterministic choices.
    """

    tokens: torch.Tensor
    parents: torch.Tensor
    depth: torch.Tensor
    scores: torch.Tensor
    child_q: dict[int, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.tokens.numel())

    def children(self) -> list[list[int]]:
        kids: list[list[int]] = [[] for _ in range(len(self))]
        for i, p in enumerate(self.parents.tolist()):
            if p >= 0:
                kids[p].append(i)
        return kids

    def ancestor_mask(self) -> torch.Tensor:
        """Boolean [n, n]: row i is True exactly on i's ancestors and i itself."""
        return ancestor_mask(self.parents)

    def positions(self, prefix_len: int) -> torch.Tensor:
        return prefix_len + self.depth

    def leaf_paths(self) -> list[list[int]]:
        """Root-to-leaf slot lists, one per leaf, leaves in slot order."""
        kids = self.children()
        par = self.parents.tolist()
        paths = []
        for i in range(len(self)):
            if not kids[i]:
                path = [i]
                while par[path[-1]] >= 0:
                    path.append(par[path[-1]])
                paths.append(path[::-1])
        return paths


def ancestor_mask(parents: torch.Tensor) -> torch.Tensor:
    """Built on Python lists and converted once: per-row tensor ops cost more than the math at
    these sizes (a cycle's bookkeeping is on the decode loop's critical path)."""
    par = parents.tolist()
    n = len(par)
    rows: list[list[bool]] = []
    for i, p in enumerate(par):
        if p >= i:
            raise ValueError(f"tree: parent {p} of slot {i} must precede it")
        row = list(rows[p]) if p >= 0 else [False] * n
        row[i] = True
        rows.append(row)
    return torch.tensor(rows, dtype=torch.bool).reshape(n, n)


def select_tree(
    root_token: int,
    tokens: torch.Tensor,
    parents: torch.Tensor,
    scores: torch.Tensor,
    budget: int,
) -> DraftTree:
    """Keep the ``budget - 1`` best candidates (plus the root) as an ancestor-closed tree.

    Candidates are given in creation order with ``parents`` indexing earlier candidates
    (-1 = root). Ranking by (score desc, creation asc) keeps the set ancestor-closed because a
    child's cumulative log-probability never exceeds its parent's and, on ties, the parent was
    created first.
    """
    n = tokens.numel()
    k = min(max(budget - 1, 0), n)
    s, parent_of = scores.tolist(), parents.tolist()  # one conversion, not one per candidate
    # Lexicographic sort: primary key score (desc), secondary creation index (asc).
    rank = sorted(range(n), key=lambda i: (-s[i], i))[:k]
    keep = sorted(rank)
    slot = {c: j + 1 for j, c in enumerate(keep)}
    par, depth = [-1], [0]
    for c in keep:
        p = parent_of[c]
        if p >= 0 and p not in slot:
            raise AssertionError("tree selection is not ancestor-closed")
        par.append(0 if p < 0 else slot[p])
        depth.append(depth[par[-1]] + 1)
    parents_t = torch.tensor(par, dtype=torch.long)
    depth = torch.tensor(depth, dtype=torch.long)
    keep_t = torch.tensor(keep, dtype=torch.long)
    return DraftTree(
        tokens=torch.cat([torch.tensor([root_token]), tokens[keep_t].long()]),
        parents=parents_t,
        depth=depth,
        scores=torch.cat([torch.zeros(1), scores[keep_t].float()]),
    )


def chain_tree(root_token: int, drafts: list[int]) -> DraftTree:
    n = len(drafts) + 1
    return DraftTree(
        tokens=torch.tensor([root_token, *drafts], dtype=torch.long),
        parents=torch.arange(-1, n - 1, dtype=torch.long),
        depth=torch.arange(n, dtype=torch.long),
        scores=torch.zeros(n),
    )
