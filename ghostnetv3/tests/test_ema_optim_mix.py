"""EMA closed form, the learning-rate schedule, LAMB, Mixup/CutMix."""

import math

import pytest
import torch
from torch import nn

from ghostnetv3.ema import ModelEma
from ghostnetv3.mix import mix_batch
from ghostnetv3.models import load_model
from ghostnetv3.optim import Lamb, cosine_lr, make_optimizer
from ghostnetv3.reparam import reparameterize_model


@pytest.mark.parametrize("warmup", [False, True])
def test_ema_matches_closed_form_after_k_updates(warmup):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    d, k = 0.9, 5
    start = {n: v.clone() for n, v in model.state_dict().items()}
    ema = ModelEma(model, d, warmup=warmup)
    # per-update decay: d, or timm's warm-up min(d, (1 + t) / (10 + t)) at update t
    decays = [min(d, (1 + t) / (10 + t)) if warmup else d for t in range(k)]
    history = []
    for _ in range(k):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        model(torch.randn(8, 3))  # moves BN running stats (buffers are averaged too)
        history.append({n: v.clone() for n, v in model.state_dict().items()})
        ema.update(model)
    for name, value in ema.module.state_dict().items():
        if not value.is_floating_point():
            assert torch.equal(value, history[-1][name])  # integer buffers are copied
            continue
        # ema_k = prod_t d_t w_0 + sum_i (1 - d_i) prod_{t > i} d_t w_i
        expected = math.prod(decays) * start[name] + sum(
            (1 - decays[i]) * math.prod(decays[i + 1:]) * history[i][name] for i in range(k))
        torch.testing.assert_close(value, expected)


def test_ema_model_fuses_equivalently():
    torch.manual_seed(0)
    model = load_model("ghostnetv3", 0.5, 4, 1)
    ema = ModelEma(model, 0.5)
    assert ema.current_decay() == pytest.approx(0.1)  # warm-up: (1 + 0) / (10 + 0)
    model.train()
    model(torch.randn(4, 1, 33, 33))
    ema.update(model)
    x = torch.randn(2, 1, 40, 40)
    before = ema.module.eval()(x)
    torch.testing.assert_close(reparameterize_model(ema.module)(x), before, rtol=1e-4, atol=1e-5)


def test_cosine_schedule_with_warmup():
    lrs = [cosine_lr(s, 100, 10, 0.1, 1e-4, 1e-5) for s in range(101)]
    assert lrs[0] == pytest.approx(1e-4)
    assert lrs[10] == pytest.approx(0.1)
    assert lrs[5] == pytest.approx(1e-4 + (0.1 - 1e-4) / 2)
    assert lrs[55] == pytest.approx(1e-5 + 0.5 * (0.1 - 1e-5) * (1 + math.cos(math.pi / 2)))
    assert lrs[100] == pytest.approx(1e-5)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))


def test_lamb_step_uses_trust_ratio():
    w = nn.Parameter(torch.tensor([3.0, 4.0]))
    opt = Lamb([w], lr=0.1, weight_decay=0.0)
    w.grad = torch.tensor([1.0, -2.0])
    opt.step()
    # first step: m_hat = g, v_hat = g^2 -> update ~ sign(g); trust = ||w|| / ||update||
    update = torch.tensor([1.0, -1.0])
    expected = torch.tensor([3.0, 4.0]) - 0.1 * (5.0 / update.norm()) * update
    torch.testing.assert_close(w.detach(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["sgd", "adamw", "lamb"])
def test_optimizers_exclude_biases_and_bn_from_weight_decay(name):
    opt = make_optimizer(name, nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)), 0.1, 0.9, 0.5)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.5 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])


def test_mixup_and_cutmix_keep_probability_targets():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 8, 8).clone()
    target = torch.eye(4)
    for mix, cut in ((0.4, 0.0), (0.0, 1.0)):
        mixed, t = mix_batch(x, target, mix, cut, 1.0, 0.5, g)
        torch.testing.assert_close(t.sum(1), torch.ones(4))
        # image 0 is mixed with image 3 (the flipped batch) in the proportion of its target
        lam = float(t[0, 0])
        torch.testing.assert_close(mixed[0].mean(), torch.tensor(lam * 0 + (1 - lam) * 3.0))
    off, t_off = mix_batch(x, target, 0.0, 0.0, 1.0, 0.5, g)
    assert off is x and t_off is target
