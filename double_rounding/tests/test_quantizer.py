"""Quantizers: int8 storage, activation grid, LSQ / STE gradients incl. the 2^delta factor."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from double_rounding.quantizer import ActivationQuantizer, WeightQuantizer, validate_bits
from double_rounding.rounding import int_range


def closed_form_weight_grads(w, s_h, bits, high):
    """LSQ: d What/d s_h = 2^d (q_l - v) inside, 2^d * n or p outside; d What/d W = 1 / 0.

    Inside = inside both clip ranges: the high-bit one on w / s_h, the low-bit one on q_h / 2^d
    (the latter only when d > 0).
    """
    d = high - bits
    v = w / (s_h * 2**d)
    n, p = int_range(bits)
    n_h, p_h = int_range(high)
    q_h = torch.floor(w / s_h + 0.5).clamp(n_h, p_h)
    q_l = torch.floor(q_h / 2**d + 0.5).clamp(n, p)
    # the second clip exists only when d > 0; it acts on integers, which can sit exactly on its
    # bound, where no gradient passes (torch.clamp's gradient is 0 at the bound here)
    inside = (w / s_h > n_h) & (w / s_h < p_h)
    if d > 0:
        inside &= (q_h / 2**d > n) & (q_h / 2**d < p)
    ds = torch.where(inside, q_l - v, q_l) * 2**d
    dw = inside.float()
    return ds, dw


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([8, 6, 4, 3, 2]), st.integers(0, 1000))
def test_weight_gradients_match_closed_form(bits, seed):
    torch.manual_seed(seed)
    w = torch.randn(64)
    wq = WeightQuantizer(w, [8, 6, 4, 3, 2], lsq_grad_scale=False)
    with torch.no_grad():
        wq.scale.fill_(0.01)
    w = w.clone().requires_grad_(True)
    upstream = torch.randn(64)
    (wq(w, bits) * upstream).sum().backward()
    ds, dw = closed_form_weight_grads(w.detach(), wq.scale.detach(), bits, 8)
    terms = ds * upstream  # float32 sums of +-127-sized terms: tolerance scaled to their size
    assert torch.allclose(wq.scale.grad, terms.sum(), rtol=0, atol=1e-5 * terms.abs().sum())
    assert torch.allclose(w.grad, dw * upstream, atol=1e-6)
    # both regions occur at low bits, so the test covers inside and outside the clip range
    if bits <= 4:
        assert 0 < dw.sum() < 64


def test_two_pow_delta_factor_on_shared_scale():
    """A weight inside the range: the 2-bit pass gives 2^6 times the (q - v) of its own grid."""
    w = torch.tensor([0.3])
    wq = WeightQuantizer(torch.ones(4), [8, 2], lsq_grad_scale=False)
    with torch.no_grad():
        wq.scale.fill_(0.01)  # 2-bit step 0.64, v = 0.46875, q_l = 0 (from q_h = 30)
    wq(w, 2).sum().backward()
    assert math.isclose(wq.scale.grad.item(), 64 * (0 - 0.3 / 0.64), rel_tol=1e-5)


def test_lsq_gradient_scale_factor():
    w = torch.randn(100)
    a = WeightQuantizer(w, [8, 4], lsq_grad_scale=False)
    b = WeightQuantizer(w, [8, 4], lsq_grad_scale=True)
    a(w, 4).sum().backward()
    b(w, 4).sum().backward()
    assert torch.allclose(b.scale.grad, a.scale.grad / math.sqrt(100 * 7))
    assert torch.equal(a(w, 4), b(w, 4))  # the factor changes gradients only


def test_stored_int8_dtype_range_and_one_scale():
    w = torch.randn(16, 8, 3, 3)
    wq = WeightQuantizer(w, [8, 6, 4, 2])
    q = wq.stored_int8(w)
    assert q.dtype == torch.int8 and q.min() >= -128 and q.max() <= 127
    assert [name for name, _ in wq.named_parameters()] == ["scale"]
    assert wq.scale.numel() == 1


def test_requantize_scheme_has_one_scale_per_bit():
    w = torch.randn(32)
    wq = WeightQuantizer(w, [8, 4], scheme="requantize")
    assert sorted(dict(wq.named_parameters())) == ["scales.4", "scales.8"]
    with pytest.raises(ValueError, match="double_rounding"):
        wq.stored_int8(w)


@pytest.mark.parametrize("signed", [False, True])
def test_activation_grid(signed):
    aq = ActivationQuantizer([8, 4, 2], signed=signed)
    x = torch.randn(4, 16) * 3
    for b in (8, 4, 2):
        y = aq(x, b)
        s = aq.scales[str(b)].item()
        q = y / s
        assert torch.allclose(q, q.round(), atol=1e-4)
        n, p = int_range(b, signed)
        assert q.min() >= n - 1e-4 and q.max() <= p + 1e-4
    # every bit-width learned (calibrated) its own scale
    assert len({round(aq.scales[str(b)].item(), 8) for b in (8, 4, 2)}) == 3


def test_activation_auto_sign():
    relu_in = ActivationQuantizer([4], signed="auto")
    relu_in(torch.rand(8, 8), 4)
    assert not bool(relu_in.signed)
    residual = ActivationQuantizer([4], signed="auto")
    residual(torch.randn(8, 8), 4)
    assert bool(residual.signed)


def test_activation_gradients_closed_form():
    aq = ActivationQuantizer([4], signed=False, lsq_grad_scale=False)
    aq.initialized.fill_(True)
    with torch.no_grad():
        aq.scales["4"].fill_(0.5)
    x = torch.tensor([-1.0, 0.3, 2.2, 9.0], requires_grad=True)
    aq(x, 4).sum().backward()
    v = x.detach() / 0.5
    expected = torch.where((v > 0) & (v < 15), torch.floor(v + 0.5) - v, v.clamp(0, 15).round())
    assert torch.allclose(aq.scales["4"].grad, expected.sum())
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 0.0]


@pytest.mark.parametrize("bad", [[], [8, 8], [9, 4], [1], [4.0], "8,4"])
def test_unknown_bit_lists_rejected(bad):
    with pytest.raises(ValueError, match="bits"):
        validate_bits(bad)


def test_bit_above_stored_precision_rejected():
    wq = WeightQuantizer(torch.randn(8), [4, 3, 2])
    with pytest.raises(ValueError, match="above the stored precision 4"):
        wq(torch.randn(8), 8)
