"""Jakiro MoE block: gate sums, mixture identity, contrastive sign, dual mode, routing."""

from __future__ import annotations

import torch
from jakiro.draft_head import DraftHead, HeadConfig, MoEBlock
from jakiro.losses import aligned_targets

from tests.conftest import tiny_config


def test_gate_mixture_and_contrastive_sign():
    torch.manual_seed(0)
    moe = MoEBlock(16, 16, 2, 0)
    x = torch.randn(3, 5, 16)
    out = moe(x, right=True, keep_experts=True)
    g = moe.gate(x)
    s = g[..., :2].softmax(-1)
    torch.testing.assert_close(s.sum(-1), torch.ones(3, 5))
    e0, e1 = moe.experts[0](x), moe.experts[1](x)
    # Left branch is the soft mixture, whichever expert "wins".
    torch.testing.assert_close(out.left, s[..., :1] * e0 + s[..., 1:] * e1, atol=1e-6, rtol=1e-5)
    # Right branch: dominant expert (by the second gate) minus the other, softmax-weighted.
    r = g[..., 2:].softmax(-1)
    hi0 = (g[..., 2] >= g[..., 3])[..., None]
    r_hi = torch.where(hi0, r[..., :1], r[..., 1:])
    r_lo = 1 - r_hi
    expect = torch.where(hi0, r_hi * e0 - r_lo * e1, r_hi * e1 - r_lo * e0)
    torch.testing.assert_close(out.right, expect, atol=1e-6, rtol=1e-5)
    assert hi0.any() and (~hi0).any()  # both orderings exercised


def test_topk_routing_weights_and_balance_loss():
    torch.manual_seed(1)
    moe = MoEBlock(16, 8, 4, 2)
    x = torch.randn(2, 7, 16)
    out = moe(x, right=True)
    w = moe.mix_weights(moe.gate(x)[..., :4])
    assert ((w > 0).sum(-1) == 2).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 7))
    assert out.balance_loss is not None and out.balance_loss > 0


def test_dual_mode_shares_attention_and_left_is_unchanged():
    cfg = tiny_config()
    torch.manual_seed(2)
    head = DraftHead(cfg, HeadConfig(kind="jakiro")).eval()
    f, e = torch.randn(1, 6, 48), torch.randn(1, 6, 48)
    c1, c2 = head.new_cache(16), head.new_cache(16)
    with torch.no_grad():
        single = head(f, e, cache=c1)
        dual = head(f, e, cache=c2, right=True)
    assert c1.length == c2.length == 6  # one attention pass, one set of KV rows
    torch.testing.assert_close(single.left, dual.left)
    torch.testing.assert_close(c1.rows(0)[0], c2.rows(0)[0])
    assert dual.right is not None and not torch.allclose(dual.right, dual.left)


def test_last_position_only_equals_full_prefix_computation():
    cfg = tiny_config()
    torch.manual_seed(3)
    head = DraftHead(cfg, HeadConfig(kind="jakiro")).eval()
    f, e = torch.randn(1, 8, 48), torch.randn(1, 8, 48)
    with torch.no_grad():
        full = head(f, e).left[0, -1]
        c = head.new_cache(16)
        head(f[:, :-1], e[:, :-1], cache=c)
        step = head(f[:, -1:], e[:, -1:], cache=c).left[0, -1]
    torch.testing.assert_close(full, step, atol=1e-5, rtol=1e-5)


def test_training_alignment_t_plus_1_and_t_plus_2():
    hidden = torch.arange(6.0).view(1, 6, 1).expand(1, 6, 3)
    mask = torch.tensor([[0, 1, 1, 0, 1, 1]])
    tg = aligned_targets(hidden, mask)
    # Input position t (feature f_t, token x_{t+1}) -> left target f_{t+1}, right f_{t+2}.
    assert tg["left"][0, :, 0].tolist() == [1, 2, 3, 4, 5]
    assert tg["right"][0, :, 0].tolist() == [2, 3, 4, 5]
    assert tg["left_mask"][0].tolist() == [1, 1, 0, 1, 1]
    assert tg["right_mask"][0].tolist() == [1, 0, 1, 1]
