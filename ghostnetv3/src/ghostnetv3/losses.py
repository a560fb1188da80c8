"""Classification and distillation losses.

`kd_loss` is the soft-target cross-entropy of the official script, with the temperature honoured
(the official `--temperature` is parsed but never used, and its `kd_loss` returns None):
T^2 * sum_i -softmax(z_t / T)_i * log softmax(z_s / T)_i, averaged over the batch. Its gradient
w.r.t. the student logits is T * (p_s - p_t) (p at temperature T), so at T = 1 it is p_s - p_t.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a probability vector per sample (mixed / smoothed labels)."""
    return torch.sum(-target * F.log_softmax(logits, dim=-1), dim=-1).mean()


def smooth_targets(labels: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    off = smoothing / num_classes
    return torch.full((labels.shape[0], num_classes), off, device=labels.device).scatter_(
        1, labels.unsqueeze(1), 1.0 - smoothing + off)


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    p_t = F.softmax(teacher.detach() / temperature, dim=-1)
    return soft_cross_entropy(student / temperature, p_t) * temperature**2


def training_loss(logits: torch.Tensor, target: torch.Tensor, teacher_logits: torch.Tensor | None,
                  ce_weight: float, kd_weight: float, temperature: float
                  ) -> tuple[torch.Tensor, dict[str, float]]:
    """ce_weight * CE(target probabilities) + kd_weight * KD(teacher); returns parts for logs."""
    ce = soft_cross_entropy(logits, target)
    total = ce_weight * ce
    parts = {"ce": float(ce.detach())}
    if teacher_logits is not None and kd_weight > 0:
        kd = kd_loss(logits, teacher_logits, temperature)
        total = total + kd_weight * kd
        parts["kd"] = float(kd.detach())
    return total, parts
