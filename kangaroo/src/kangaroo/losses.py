"""The paper's training objective and its monitor.

    L = -sum_v p_v log q_v,  p = softmax(W_h f_t) (the target at position t),
                             q = softmax(W_h A(f^(l))_t) (the adapter at the same position)

averaged over assistant tokens; the monitor is the expected acceptance sum_v min(p_v, q_v)
(1 - total variation), the probability that one sampled draft token is accepted.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_cross_entropy(draft_logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """Per-position soft CE [n] from logits [n, V]."""
    p = target_logits.float().softmax(-1)
    return -(p * draft_logits.float().log_softmax(-1)).sum(-1)


def expected_acceptance(draft_logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """Per-position sum_v min(p_v, q_v) [n]."""
    p = target_logits.float().softmax(-1)
    q = draft_logits.float().softmax(-1)
    return torch.minimum(p, q).sum(-1)


def feature_regression(adapted: torch.Tensor, target_feature: torch.Tensor) -> torch.Tensor:
    """Optional ablation term: smooth-L1 between the adapter output and the target's final
    (normed) feature, per position [n]."""
    return F.smooth_l1_loss(adapted.float(), target_feature.float(), reduction="none").mean(-1)
