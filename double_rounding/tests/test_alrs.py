"""ALRS: eta table, the printed formula, the clamp, and which optimizer it touches (A4-7)."""

import math

import pytest
import torch

from double_rounding.alrs import ALRS, eta, scale_gradient_term
from double_rounding.trainer import MultiPrecisionTrainer


def test_eta_table():
    assert [eta(b, 8) for b in (8, 7, 6, 5, 4, 3, 2)] == pytest.approx(
        [1, 0.5, 0.1, 0.05, 0.01, 0.005, 0.001])
    assert [eta(b, 4) for b in (4, 3, 2)] == pytest.approx([1, 0.5, 0.1])
    with pytest.raises(ValueError, match="above"):
        eta(9, 8)


def test_formula_on_synthetic_gradients():
    grads = [[torch.tensor(0.02), torch.tensor(-0.01)],  # norm < 1: maxabs 0.02
             [torch.tensor(3.0), torch.tensor(4.0)],  # norm 5 -> clipped to (0.6, 0.8): 0.8
             [torch.tensor(1e-4), None]]  # a missing gradient is skipped within the layer
    term = (0.02 + 0.8 + 1e-4) / 3
    assert scale_gradient_term(grads) == pytest.approx(term)
    lam = 0.9
    assert ALRS("literal", 8).rate(lam, 4, grads) == pytest.approx(0.01 * (lam - term))
    assert ALRS("eta", 8).rate(lam, 4, grads) == pytest.approx(0.01 * lam)
    assert ALRS("none", 8).rate(lam, 4, grads) == lam


def test_literal_goes_negative_and_clamp_counts():
    grads = [[torch.tensor(0.1)]]
    literal = ALRS("literal", 8).rate(5e-4, 2, grads)
    assert literal < 0  # the printed formula with lambda = 5e-4 and |grad| = 0.1
    clamped = ALRS("clamped", 8, floor_fraction=0.01)
    assert clamped.rate(5e-4, 2, grads) == pytest.approx(0.01 * 1e-3 * 5e-4)
    assert clamped.rate(0.5, 8, [[torch.tensor(1e-3)]]) == pytest.approx(0.5 - 1e-3)
    assert clamped.clamp_events == 1 and clamped.calls == 2


def test_unknown_mode():
    with pytest.raises(ValueError, match="alrs.mode"):
        ALRS("sometimes")


def test_trainer_optimizers(tiny_model):
    model, x = tiny_model
    y = torch.arange(len(x)) % 10
    trainer = MultiPrecisionTrainer(model, [8, 6, 4, 2], lr=1e-3, weight_decay=5e-5,
                                    alrs=ALRS("eta", 8), total_steps=4)
    assert trainer.opt_scales.param_groups[0]["weight_decay"] == 0.0
    assert trainer.opt_weights.param_groups[0]["weight_decay"] == 5e-5
    n_scales = sum(p.numel() for p in trainer.opt_scales.param_groups[0]["params"])
    # per quantized layer: one weight scale + 4 activation scales
    assert n_scales == 5 * 8
    stats = trainer.train_step(x, y)
    assert trainer.opt_weights.param_groups[0]["lr"] == pytest.approx(1e-3)  # untouched by ALRS
    assert stats["scale_lr_w2"] == pytest.approx(1e-3 * 1e-3)
    assert trainer.opt_scales.param_groups[0]["lr"] == pytest.approx(1e-6)  # last pass: 2 bits
    trainer.step_count = 2
    assert trainer.lr_now() == pytest.approx(0.5e-3 * (1 + math.cos(math.pi / 2)))


def test_inplace_distillation_adds_kl_to_lower_bits():
    """kd_weight > 0: the highest-bit pass is unchanged, lower passes add KL(teacher || student)."""
    from double_rounding.convert import calibrate
    from double_rounding.models import load_model

    stats = []
    for kd in (0.0, 1.0):
        torch.manual_seed(0)
        model = load_model("resnet20", [8, 4], in_channels=1, width=0.25, blocks_per_stage=1)
        x = torch.randn(8, 1, 32, 32, generator=torch.Generator().manual_seed(1))
        calibrate(model, x, [8, 4])
        trainer = MultiPrecisionTrainer(model, [8, 4], lr=1e-3, kd_weight=kd)
        stats.append(trainer.train_step(x, torch.arange(8) % 10))
    assert stats[0]["loss_w8"] == stats[1]["loss_w8"]
    assert stats[1]["loss_w4"] > stats[0]["loss_w4"]


def test_relative_mode_adapts_and_counts_every_bound():
    """relative: eta_b * lambda * (1 - g); it moves with the gradients, stays positive, and
    each bound (norm clip, floor) is counted when it binds."""
    small, large = [[torch.tensor(0.02)]], [[torch.tensor(3.0), torch.tensor(4.0)]]
    alrs = ALRS("relative", 8, floor_fraction=0.01)
    assert alrs.rate(1e-3, 4, small) == pytest.approx(0.01 * 1e-3 * 0.98)
    assert alrs.rate(1e-3, 4, large) == pytest.approx(0.01 * 1e-3 * 0.2)  # clipped to 0.8
    assert alrs.rate(1e-3, 8, [[torch.tensor(1.0)]]) == pytest.approx(1e-5)  # floor: g = 1
    s = alrs.summary()
    assert (s["norm_clip_events"], s["floor_events"], s["calls"]) == (1, 1, 3)
    assert s["factor_min"] == pytest.approx(0.01) and s["factor_max"] == pytest.approx(0.98)
    restored = ALRS("relative", 8)
    restored.load_state_dict(alrs.state_dict())
    assert restored.summary() == s


def test_literal_is_the_printed_formula_at_realistic_scale():
    """With lambda = 1e-3 and scale gradients ~1e-2 the printed rate is negative (ascent)."""
    grads = [[torch.tensor(0.01), torch.tensor(-0.02)]]
    assert ALRS("literal", 8).rate(1e-3, 2, grads) == pytest.approx(1e-3 * (1e-3 - 0.02))
