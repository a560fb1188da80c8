"""HASB: roulette frequencies, sigma schedule, Hutchinson traces (A4-9, A4-10)."""

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from double_rounding.hasb import HASBSampler, hutchinson_traces, roulette_probs, sensitivity


def test_roulette_probabilities():
    assert roulette_probs([8, 6, 4, 2], True) == pytest.approx([0.4, 0.3, 0.2, 0.1])
    assert roulette_probs([4, 3, 2], True) == pytest.approx([4 / 9, 3 / 9, 2 / 9])
    assert roulette_probs([8, 6, 4, 2], False) == pytest.approx([0.25] * 4)


def test_roulette_frequencies_chi_square():
    sampler = HASBSampler([8, 6, 4, 2], [1.0, 0.0], sigma0=1.0, epochs=1, seed=3)
    assert sampler.sensitive.tolist() == [True, False]
    n = 100_000
    for layer, probs in ((0, [0.4, 0.3, 0.2, 0.1]), (1, [0.25] * 4)):
        draws = sampler.draw(layer, n)
        counts = [int((draws == b).sum()) for b in (8, 6, 4, 2)]
        assert sampler.draw(layer) in (8, 6, 4, 2)
        assert chisquare(counts, np.array(probs) * n).pvalue > 1e-3


def test_sigma_linear_and_outer_bits_kept():
    sampler = HASBSampler([4, 3, 2], [1.0] * 5, sigma0=0.5, epochs=10, seed=0)
    assert [sampler.sigma(e) for e in (0, 4, 9)] == pytest.approx([0.05, 0.25, 0.5])
    sampler.sigma0 = 0.0
    assert sampler.sample(3, 0) == [3] * 5


def test_mean_threshold():
    assert sensitivity([1.0, 2.0, 3.0, 10.0]).tolist() == [False, False, False, True]


def test_hutchinson_on_quadratic_with_known_hessian():
    torch.manual_seed(0)
    a = torch.randn(6, 6)
    h1 = a @ a.T + torch.eye(6)  # SPD block for the first tensor
    h2 = torch.diag(torch.tensor([2.0, 5.0, 0.5]))
    x = torch.randn(6, requires_grad=True)
    y = torch.randn(3, requires_grad=True)

    def loss():
        return 0.5 * x @ h1 @ x + 0.5 * y @ h2 @ y + (x[:3] * y).sum()

    est = hutchinson_traces(loss, [x, y], samples=2000, seed=1)
    # the off-diagonal coupling must not leak into the per-tensor (diagonal block) traces
    assert est[0] == pytest.approx(torch.trace(h1).item(), rel=0.05)
    assert est[1] == pytest.approx(7.5, rel=0.05)
    assert all(t > 0 for t in est)


def test_hutchinson_matches_explicit_hessian_of_mlp():
    torch.manual_seed(0)
    w = torch.randn(3, 4, requires_grad=True)
    x = torch.randn(16, 4)
    target = torch.randn(16, 3)

    def loss_of(flat):
        return ((x @ flat.view(3, 4).T - target) ** 2).mean()

    explicit = torch.autograd.functional.hessian(loss_of, w.detach().reshape(-1))
    est = hutchinson_traces(lambda: loss_of(w.reshape(-1)), [w], samples=500, seed=0)
    assert est[0] == pytest.approx(torch.trace(explicit).item(), rel=0.05)
