"""Tree verification: greedy, and exact rejection sampling for deterministic or i.i.d. drafts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from jakiro.sampling import SamplingConfig, warp
from jakiro.tree import DraftTree


@dataclass
class Verdict:
    slots: list[int]  # root and accepted draft slots, root first
    next_token: int  # target's correction or bonus token after the last accepted slot


def verify_greedy(tree: DraftTree, logits: torch.Tensor) -> Verdict:
    """Follow children whose token equals the target argmax at their parent."""
    best = logits.argmax(-1).tolist()
    tokens = tree.tokens.tolist()
    kids = tree.children()
    node, slots = 0, [0]
    while True:
        nxt = next((c for c in kids[node] if tokens[c] == best[node]), None)
        if nxt is None:
            return Verdict(slots, best[node])
        node = nxt
        slots.append(node)


def _normalised(p: np.ndarray) -> np.ndarray:
    total = p.sum()
    if total <= 0:
        raise FloatingPointError("verification residual has no probability mass")
    return p / total


def verify_sampling(
    tree: DraftTree,
    logits: torch.Tensor,
    cfg: SamplingConfig,
    rng: np.random.Generator,
    probs: torch.Tensor | np.ndarray | None = None,
) -> Verdict:
    """Exact speculative sampling over a tree (output distribution equals the target's).

    Deterministic children (top-k choices, q a point mass): accept child c with probability
    p(c), else zero p(c) and renormalise; duplicate siblings then have p = 0 and are skipped.
    Stochastic children (i.i.d. draws from q = ``tree.child_q[node]``): accept with
    min(1, p(c)/q(c)), else p <- normalise(max(p - q, 0)) (SpecInfer multi-round rule).
    ``probs`` may pass the warped target rows precomputed (all tree rows at once).
    """
    if probs is None:
        probs = warp(logits, cfg)
    rows = probs if isinstance(probs, np.ndarray) else probs.double().numpy()
    tokens = tree.tokens.tolist()
    kids = tree.children()
    node, slots = 0, [0]
    while True:
        p = rows[node].copy()
        q_t = tree.child_q.get(node)
        q = q_t if q_t is None or isinstance(q_t, np.ndarray) else q_t.double().numpy()
        accepted = None
        for c in kids[node]:
            tok = tokens[c]
            if q is None:
                if rng.random() < p[tok]:
                    accepted = c
                    break
                p[tok] = 0.0
                p = _normalised(p)
            else:
                ratio = p[tok] / q[tok] if q[tok] > 0 else np.inf
                if rng.random() < min(1.0, ratio):
                    accepted = c
                    break
                p = _normalised(np.clip(p - q, 0.0, None))
        if accepted is None:
            return Verdict(slots, int(rng.choice(p.size, p=_normalised(p))))
        node = accepted
        slots.append(node)
