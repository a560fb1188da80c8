import pytest
import torch
from diffusiondialog.diffusion import GaussianDiffusion


@pytest.fixture(scope="module")
def diff():
    return GaussianDiffusion(2000, "sqrt")


@pytest.mark.parametrize("t", [0, 7, 60])
def test_closed_form_matches_iterated_noising(diff, t):
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([1.5, -0.5, 0.0], dtype=torch.float64)
    n = 20000
    x = x0.expand(n, 3).clone()
    for s in range(t + 1):
        x = diff.q_step(x, s, torch.randn(x.shape, generator=g, dtype=torch.float64))
    closed = diff.q_sample(x0.expand(n, 3), torch.full((n,), t),
                           torch.randn((n, 3), generator=g, dtype=torch.float64))
    ab = float(diff.alphas_cumprod[t])
    for sample in (x, closed):
        assert torch.allclose(sample.mean(0), ab**0.5 * x0, atol=0.03)
        assert torch.allclose(sample.var(0), torch.full((3,), 1 - ab, dtype=torch.float64),
                              atol=0.03 * (1 - ab) + 1e-4)


def test_last_step_is_pure_noise(diff):
    g = torch.Generator().manual_seed(1)
    x0 = torch.full((5000, 4), 3.0, dtype=torch.float64)
    xt = diff.q_sample(x0, torch.full((5000,), 1999), torch.randn(x0.shape, generator=g,
                                                                   dtype=torch.float64))
    assert xt.mean().abs() < 0.05 and (xt.var() - 1).abs() < 0.05


def test_eps_x0_roundtrip_exact(diff):
    g = torch.Generator().manual_seed(2)
    x0 = torch.randn(8, 1, 16, generator=g, dtype=torch.float64)
    eps = torch.randn(8, 1, 16, generator=g, dtype=torch.float64)
    t = torch.randint(0, 1999, (8,), generator=g)
    xt = diff.q_sample(x0, t, eps)
    assert torch.allclose(diff.x0_from_eps(xt, t, eps), x0, atol=1e-6)
    assert torch.allclose(diff.eps_from_x0(xt, t, x0), eps, atol=1e-6)


def test_posterior_is_consistent_with_forward_process(diff):
    # Sampling x_{t-1} ~ q(.|x0) then x_t ~ q(x_t|x_{t-1}) and regressing x_{t-1} on (x0, x_t)
    # must recover the posterior mean coefficients; check via the known Gaussian identity.
    t = 50
    x0, xt = torch.tensor([0.7]), torch.tensor([0.2])
    mean, var = diff.posterior(x0, xt, t)
    ab, ab_prev = float(diff.alphas_cumprod[t]), float(diff.alphas_cumprod[t - 1])
    a_t = ab / ab_prev
    # Product of Gaussians: N(x; sqrt(ab_prev) x0, 1-ab_prev) * N(xt; sqrt(a_t) x, 1-a_t)
    prec = 1 / (1 - ab_prev) + a_t / (1 - a_t)
    want_mean = (ab_prev**0.5 * x0 / (1 - ab_prev) + a_t**0.5 * xt / (1 - a_t)) / prec
    assert var == pytest.approx(1 / prec, rel=1e-9)
    assert torch.allclose(mean, want_mean, atol=1e-9)


def _oracle(x0):
    calls = []

    def denoise(x, t):
        calls.append(t[0].item())
        return x0.expand_as(x)
    return denoise, calls


@pytest.mark.parametrize("steps", [1, 5, 50, 2000])
def test_ddim_with_oracle_lands_on_x0(diff, steps):
    x0 = torch.tensor([[[0.3, -2.0, 1.7]]], dtype=torch.float64)
    x_T = torch.randn(1, 1, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    denoise, calls = _oracle(x0)
    out = diff.ddim_sample(denoise, x_T, steps, clamp=None)
    assert torch.allclose(out, x0, atol=1e-9)
    assert len(calls) == steps  # one denoiser call per kept step
    denoise, _ = _oracle(x0)
    clamped = diff.ddim_sample(denoise, x_T, steps, clamp=1.0)
    assert torch.allclose(clamped, x0.clamp(-1, 1), atol=1e-9)


def test_ddim_one_step_returns_single_prediction(diff):
    x_T = torch.randn(2, 1, 4, generator=torch.Generator().manual_seed(4))
    seen = []

    def denoise(x, t):
        seen.append((x.clone(), t.clone()))
        return 0.5 * x
    out = diff.ddim_sample(denoise, x_T, 1, spacing="trailing", clamp=None)
    assert len(seen) == 1 and (seen[0][1] == 1999).all()
    assert torch.equal(out, 0.5 * x_T)


def test_ddim_full_steps_equals_handwritten_chain(diff):
    # T-step DDIM (eta=0) = x_{t-1} = sqrt(ab_{t-1}) x0 + sqrt(1-ab_{t-1}) eps(x_t) for all t.
    small = GaussianDiffusion(20, "sqrt")
    x_T = torch.randn(3, 1, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    f = lambda x, t: torch.tanh(x) * 0.9  # noqa: E731 - any deterministic denoiser
    x = x_T
    for t in reversed(range(20)):
        x0 = f(x, None)
        if t == 0:
            want = x0
            break
        ab, ab_prev = small.alphas_cumprod[t].item(), small.alphas_cumprod[t - 1].item()
        eps = (x - ab**0.5 * x0) / (1 - ab) ** 0.5
        x = ab_prev**0.5 * x0 + (1 - ab_prev) ** 0.5 * eps
    got = small.ddim_sample(f, x_T, 20, clamp=None)
    assert torch.allclose(got, want, atol=1e-12)


def test_ddim_deterministic_given_x_T(diff):
    f = lambda x, t: torch.sin(x + t[:, None, None].to(x.dtype) / 1000)  # noqa: E731
    a = torch.randn(2, 1, 6, generator=torch.Generator().manual_seed(6))
    b = torch.randn(2, 1, 6, generator=torch.Generator().manual_seed(7))
    assert torch.equal(diff.ddim_sample(f, a, 50), diff.ddim_sample(f, a, 50))
    assert not torch.equal(diff.ddim_sample(f, a, 50), diff.ddim_sample(f, b, 50))
