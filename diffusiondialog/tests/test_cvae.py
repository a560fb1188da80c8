"""The Gaussian-latent CVAE baseline (DialogVED-style)."""

import pytest
import torch
from diffusiondialog.latent import gaussian_kl
from diffusiondialog.model import load_bart_weights
from hypothesis import given
from hypothesis import strategies as st

CVAE = dict(latent_type="gaussian", latent_dim=8,
            loss_weights={"reconstruction": 1.0, "kl": 1.0, "bow": 1.0})


def _enc(model, batch):
    return model.encode_context(batch["context_ids"], batch["context_mask"], batch["roles"],
                                batch["turns"])


def _log_normal(z, mu, logvar):
    return (-0.5 * (logvar + (z - mu) ** 2 / logvar.exp()
                    + torch.log(torch.tensor(2 * torch.pi)))).sum(-1)


def test_kl_closed_form_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu_q, mu_p = torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
    lv_q, lv_p = 0.5 * torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
    n = 400_000
    z = mu_q + (0.5 * lv_q).exp() * torch.randn(n, 3, 4, generator=g, dtype=torch.float64)
    mc = (_log_normal(z, mu_q, lv_q) - _log_normal(z, mu_p, lv_p)).mean(0)
    closed = gaussian_kl(mu_q, lv_q, mu_p, lv_p).sum(-1)
    assert torch.allclose(mc, closed, rtol=0.02, atol=0.01), (mc, closed)


@given(st.lists(st.floats(-3, 3), min_size=1, max_size=6),
       st.lists(st.floats(-2, 2), min_size=1, max_size=6))
def test_kl_is_zero_iff_prior_equals_posterior(mus, logvars):
    n = min(len(mus), len(logvars))
    mu, lv = torch.tensor(mus[:n]), torch.tensor(logvars[:n])
    assert gaussian_kl(mu, lv, mu, lv).abs().max() < 1e-6
    assert (gaussian_kl(mu + 0.5, lv, mu, lv) > 0).all()
    assert (gaussian_kl(mu, lv + 0.5, mu, lv) > 0).all()


def test_model_kl_is_zero_when_posterior_equals_prior(make_model, batch):
    """Standard prior and a posterior net whose output is forced to zero: q == p == N(0, I)."""
    model = make_model(**{**CVAE, "prior": "standard"})
    with torch.no_grad():
        last = model.gaussian.posterior_net[-1]
        last.weight.zero_()
        last.bias.zero_()
    out = model(batch)
    assert out["kl"].item() == pytest.approx(0.0, abs=1e-7)


def test_reparameterisation_gradient_reaches_the_posterior(make_model, batch):
    model = make_model(**{**CVAE, "loss_weights": {"reconstruction": 1.0}})
    model.train()
    out = model(batch, generator=torch.Generator().manual_seed(0))
    out["loss"].backward()
    # The NLL alone reaches q(z|c,r) only through z = mu + sigma * eps.
    post = model.gaussian.posterior_net[-1].weight.grad
    mu_rows, logvar_rows = post[:8], post[8:]
    assert mu_rows.abs().max() > 0 and logvar_rows.abs().max() > 0
    assert model.latent_slot.grad.abs().max() > 0  # and on into the response encoder
    assert all(p.grad is None or p.grad.abs().max() == 0
               for p in model.gaussian.prior_net.parameters())


def test_kl_gradient_reaches_prior_and_posterior(make_model, batch):
    model = make_model(**{**CVAE, "loss_weights": {"kl": 1.0}})
    model(batch)["loss"].backward()
    assert model.gaussian.prior_net[-1].weight.grad.abs().max() > 0
    assert model.gaussian.posterior_net[-1].weight.grad.abs().max() > 0


def test_kl_annealing_and_free_bits(make_model, batch):
    model = make_model(**{**CVAE, "kl_anneal_steps": 10, "free_bits": 0.5})
    weights = []
    for step in (0, 5, 10, 50):
        model.train_step = step
        weights.append(model.kl_weight())
    assert weights == [0.0, 0.5, 1.0, 1.0]
    model.train_step = None  # evaluation / tests: full weight
    assert model.kl_weight() == 1.0
    out = model(batch)
    # A fresh model's posterior is close to its prior: every dimension sits on the floor.
    assert out["kl"].item() < 8 * 0.5
    assert out["kl_term"].item() == pytest.approx(8 * 0.5, rel=1e-4)
    want = out["reconstruction"] + out["kl_term"] + out["bow"]
    assert out["loss"].item() == pytest.approx(want.item(), rel=1e-5)


def test_zero_noise_decodes_the_prior_mean(make_model, batch):
    model = make_model(**CVAE)
    enc, mask = _enc(model, batch), batch["context_mask"]
    with torch.no_grad():
        z = model.sample_latent(enc, mask, torch.zeros(model.latent_shape(6)))
        mu_p, _ = model.gaussian.prior(enc, mask)
        assert z.shape == (6, 1, 32)
        assert torch.equal(z, model.gaussian.to_decoder(mu_p))
        noisy = model.sample_latent(enc, mask, torch.randn(model.latent_shape(6)))
    assert not torch.allclose(z, noisy)


def test_cvae_without_latent_is_the_bart_baseline(make_model, batch):
    """latent=None gives exactly the BART baseline; a zero latent does not (K/V prefix)."""
    cvae, base = make_model(**CVAE, seed=0), make_model(use_latent=False, seed=1)
    assert load_bart_weights(base, cvae.state_dict()) == []
    with torch.no_grad():
        a = cvae.decode_logits(batch["decoder_input_ids"], _enc(cvae, batch),
                               batch["context_mask"])
        b = base.decode_logits(batch["decoder_input_ids"], _enc(base, batch),
                               batch["context_mask"])
        zero = cvae.decode_logits(batch["decoder_input_ids"], _enc(cvae, batch),
                                  batch["context_mask"], torch.zeros(6, 1, 32))
    assert torch.equal(a, b)
    assert not torch.allclose(zero, a)


def test_cvae_rejects_diffusion_losses(make_model):
    with pytest.raises(ValueError, match="loss_weights"):
        make_model(**{**CVAE, "loss_weights": {"diffusion": 1.0}})
