"""EAGLE loss (SmoothL1 on features + soft cross-entropy) and Jakiro's two-branch objective."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def feature_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """SmoothL1 averaged over the hidden dim, summed over valid positions / their count."""
    per_pos = F.smooth_l1_loss(pred, target, reduction="none").mean(-1)
    return (per_pos * mask).sum() / (mask.sum() + 1e-5)


def soft_ce(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, lm_head: torch.Tensor
) -> torch.Tensor:
    """-sum_v softmax(W_h f)_v log softmax(W_h f_hat)_v: distils the target's distribution."""
    with torch.no_grad():
        p = F.linear(target, lm_head).float().softmax(-1)
    logq = F.linear(pred, lm_head).float().log_softmax(-1)
    per_pos = -(p * logq).sum(-1)
    return (per_pos * mask).sum() / (mask.sum() + 1e-5)


@dataclass
class LossWeights:
    feature: float = 1.0  # v_w
    ce: float = 0.1  # p_w
    right: float = 0.5  # Jakiro's weight of the t+2 branch
    balance: float = 0.01  # load-balancing loss when top-k routing is on


def aligned_targets(hidden: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Teacher-forcing alignment for inputs (f_t, x_{t+1}), t = 0..T-2.

    Left branch at t -> f_{t+1} (mask of t+1); right branch at t -> f_{t+2} (mask of t+2),
    defined for t = 0..T-3 only.
    """
    return {
        "left": hidden[:, 1:],
        "left_mask": mask[:, 1:].float(),
        "right": hidden[:, 2:],
        "right_mask": mask[:, 2:].float(),
    }


def draft_loss(
    out_left: torch.Tensor,
    out_right: torch.Tensor | None,
    hidden: torch.Tensor,
    mask: torch.Tensor,
    lm_head: torch.Tensor,
    w: LossWeights,
    balance: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """L = v(SL1_L + r SL1_R) + p(CE_L + r CE_R) [+ balance]; EAGLE when out_right is None."""
    tg = aligned_targets(hidden, mask)
    sl1 = feature_loss(out_left, tg["left"], tg["left_mask"])
    ce = soft_ce(out_left, tg["left"], tg["left_mask"], lm_head)
    logs = {"sl1_left": sl1.item(), "ce_left": ce.item()}
    total = w.feature * sl1 + w.ce * ce
    if out_right is not None:
        pr = out_right[:, :-1]
        sl1_r = feature_loss(pr, tg["right"], tg["right_mask"])
        ce_r = soft_ce(pr, tg["right"], tg["right_mask"], lm_head)
        total = total + w.right * (w.feature * sl1_r + w.ce * ce_r)
        logs.update(sl1_right=sl1_r.item(), ce_right=ce_r.item())
    if balance is not None:
        total = total + w.balance * balance
        logs["balance"] = balance.item()
    logs["loss"] = total.item()
    return total, logs
