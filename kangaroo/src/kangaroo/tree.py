"""The draft of one cycle: a tree of tokens rooted at the newest accepted token.

A chain is the tree with one child per node. Nodes are stored in creation order, which is also
their slot order in the target's cache (root first); each node knows its ancestors, so the
attention rows of any subset over any slot list are one lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Node:
    token: int
    parent: int  # -1 for the root
    depth: int
    conf: float  # drafter confidence that decided whether to expand it (second early exit)
    score: float  # product of draft probabilities along the path (tree budget order)
    q: torch.Tensor | None = None  # the distribution it was sampled from (None: chosen by top-k)
    children: list[int] = field(default_factory=list)


class DraftTree:
    def __init__(self, root_token: int) -> None:
        self.nodes = [Node(root_token, -1, 0, 1.0, 1.0)]
        self._ancestors: list[set[int]] = [{0}]

    def add(self, parent: int, token: int, conf: float, prob: float,
            q: torch.Tensor | None = None) -> int:
        p = self.nodes[parent]
        self.nodes.append(Node(token, parent, p.depth + 1, conf, p.score * prob, q))
        i = len(self.nodes) - 1
        p.children.append(i)
        self._ancestors.append(self._ancestors[parent] | {i})
        return i

    def __len__(self) -> int:
        return len(self.nodes)

    def mask(self, rows: list[int], cols: list[int]) -> torch.Tensor:
        """[len(rows), len(cols)] True where the column node is an ancestor of (or is) the row."""
        return torch.tensor([[c in self._ancestors[r] for c in cols] for r in rows],
                            dtype=torch.bool)

    def path_tokens(self, i: int) -> list[int]:
        out = []
        while i >= 0:
            out.append(self.nodes[i].token)
            i = self.nodes[i].parent
        return out[::-1]

    def is_chain(self) -> bool:
        return all(len(n.children) <= 1 for n in self.nodes)
