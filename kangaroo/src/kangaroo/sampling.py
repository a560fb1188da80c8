"""Logit warpers and the two exact acceptance rules of speculative sampling.

* A draft sampled from q (the chain at T > 0): accept x with probability min(1, p(x)/q(x)); on
  rejection continue with the residual normalise((p - q)+).
* A deterministic candidate (top-K tree siblings; q is a point mass): accept x with probability
  p(x); on rejection continue with p where p(x) = 0, renormalised.
Either way the emitted token is distributed exactly as p (tests/test_sampling.py).
"""

from __future__ import annotations

import torch


def warp(logits: torch.Tensor, temperature: float, top_k: int = 0,
         top_p: float = 1.0) -> torch.Tensor:
    """Probabilities after temperature, top-k and top-p (the order HF applies them)."""
    x = logits.float() / temperature
    if top_k and top_k < x.shape[-1]:
        kth = torch.topk(x, top_k, dim=-1).values[..., -1:]
        x = x.masked_fill(x < kth, float("-inf"))
    if top_p < 1.0:
        sorted_x, order = torch.sort(x, dim=-1, descending=False)
        cum = sorted_x.softmax(-1).cumsum(-1)
        drop_sorted = cum <= (1 - top_p)
        drop_sorted[..., -1:] = False  # always keep the most likely token
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        x = x.masked_fill(drop, float("-inf"))
    return x.softmax(-1)


def sample(probs: torch.Tensor, generator: torch.Generator | None) -> int:
    return int(torch.multinomial(probs, 1, generator=generator))


def uniform(generator: torch.Generator | None) -> float:
    return float(torch.rand((), generator=generator))


def accept_sampled(p: torch.Tensor, q: torch.Tensor, token: int,
                   generator: torch.Generator | None) -> tuple[bool, torch.Tensor]:
    """Rejection step for a draft drawn from q; returns (accepted, distribution to go on with)."""
    if uniform(generator) * float(q[token]) < float(p[token]):
        return True, p
    residual = (p - q).clamp_min(0)
    total = residual.sum()
    return False, (residual / total) if total > 0 else p


def accept_deterministic(p: torch.Tensor, token: int,
                         generator: torch.Generator | None) -> tuple[bool, torch.Tensor]:
    """Rejection step for a candidate chosen without sampling (q = point mass on ``token``)."""
    if uniform(generator) < float(p[token]):
        return True, p
    rest = p.clone()
    rest[token] = 0
    total = rest.sum()
    return False, (rest / total) if total > 0 else p
