"""Hessian-aware stochastic bit-switching (HASB): Hutchinson traces and roulette bit sampling."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn


def hutchinson_traces(loss_fn: Callable[[], torch.Tensor], params: Sequence[torch.Tensor],
                      samples: int = 32, seed: int = 0) -> list[float]:
    """Per-parameter-tensor Hessian trace estimates Tr(H_l) ~ mean_j z_j^T (H z_j)_l.

    z_j is Rademacher, H z by double back-propagation. Blocks are estimated jointly from the
    same probe (the diagonal blocks of H are what z_l^T (H z)_l averages to).
    """
    g = torch.Generator().manual_seed(seed)
    loss = loss_fn()
    grads = torch.autograd.grad(loss, params, create_graph=True)
    sums = [0.0] * len(params)
    for _ in range(samples):
        zs = [torch.randint(0, 2, p.shape, generator=g).to(p.dtype) * 2 - 1 for p in params]
        hz = torch.autograd.grad(grads, params, grad_outputs=zs, retain_graph=True)
        for i, (z, h) in enumerate(zip(zs, hz, strict=True)):
            sums[i] += (z * h).sum().item()
    return [s / samples for s in sums]


def model_traces(model: nn.Module, layers: Sequence[nn.Module], batches, samples: int = 16,
                 seed: int = 0) -> list[float]:
    """Average Hessian trace of each layer's weight over `batches` (FP32 model, eval-mode BN)."""
    model.eval()
    params = [layer.weight for layer in layers]
    totals = np.zeros(len(params))
    count = 0
    for x, y in batches:
        def loss_fn(x=x, y=y) -> torch.Tensor:
            return nn.functional.cross_entropy(model(x), y)

        totals += np.array(hutchinson_traces(loss_fn, params, samples, seed + count))
        count += 1
    return list(totals / max(count, 1))


def roulette_probs(bits: Sequence[int], sensitive: bool) -> np.ndarray:
    """Algorithm 1: sensitive layers draw b with p = b / sum(B), insensitive ones uniformly."""
    b = np.asarray(bits, dtype=float)
    return b / b.sum() if sensitive else np.full(len(b), 1.0 / len(b))


def sensitivity(per_param_traces: Sequence[float]) -> np.ndarray:
    """A layer is sensitive when its trace per parameter is not below the mean (paper rule)."""
    t = np.asarray(per_param_traces, dtype=float)
    return t >= t.mean()


class HASBSampler:
    """Per-layer bits for one pass: keep the outer bit, or with probability sigma_e re-draw it by
    the roulette; sigma_e = sigma0 * (epoch + 1) / epochs grows linearly."""

    def __init__(self, bits: Sequence[int], per_param_traces: Sequence[float], sigma0: float,
                 epochs: int, seed: int = 0, uniform: bool = False) -> None:
        self.bits = list(bits)
        self.sensitive = sensitivity(per_param_traces)
        if uniform:  # the Bit-Mixer-style baseline: every layer draws uniformly
            self.sensitive[:] = False
        self.sigma0 = sigma0
        self.epochs = max(1, epochs)
        self.rng = np.random.default_rng(seed)

    def sigma(self, epoch: int) -> float:
        return min(1.0, self.sigma0 * (epoch + 1) / self.epochs)

    def draw(self, layer: int, n: int | None = None):
        """One roulette draw for `layer` (or an array of n draws)."""
        probs = roulette_probs(self.bits, self.sensitive[layer])
        if n is None:
            return int(self.rng.choice(self.bits, p=probs))
        return self.rng.choice(self.bits, size=n, p=probs)

    def sample(self, outer_bits: int, epoch: int) -> list[int]:
        s = self.sigma(epoch)
        return [self.draw(i) if self.rng.random() < s else outer_bits
                for i in range(len(self.sensitive))]
