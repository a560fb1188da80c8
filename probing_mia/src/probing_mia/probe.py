"""Linear probes on activations: one logistic regression per layer, no bias, trained with AdamW
(lr 1e-3, weight decay 0.1) for 1000 full-batch steps on the proxy's activations of the
probe-training texts; applied to the target's activations of dev and test.

Standardisation: ``transductive`` (the paper's) z-scores every split with its own mean/std;
``inductive`` uses the probe-training split's statistics for all splits, so dev/test never
influence their own features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from probing_mia.config import ProbeConfig
from probing_mia.errors import ConfigError
from probing_mia.metrics import auc


def _zscore(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (x - mean) / std.clamp_min(1e-6)


def standardise(train: torch.Tensor, others: list[torch.Tensor], mode: str
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """[n, d] features -> standardised features for train and every other split."""
    stats = (train.mean(0), train.std(0))
    if mode == "inductive":
        return _zscore(train, *stats), [_zscore(x, *stats) for x in others]
    if mode == "transductive":
        return _zscore(train, *stats), [_zscore(x, x.mean(0), x.std(0)) for x in others]
    raise ConfigError(f"probe.standardisation: unknown mode {mode!r}")


def train_probe(x: torch.Tensor, y: torch.Tensor, cfg: ProbeConfig, seed: int) -> torch.Tensor:
    """Weight vector w of sigmoid(w . x); full-batch AdamW on BCE."""
    generator = torch.Generator().manual_seed(seed)
    w = (torch.randn(x.shape[1], generator=generator) * 0.01).requires_grad_()
    optimizer = torch.optim.AdamW([w], lr=cfg.lr, weight_decay=cfg.weight_decay)
    target = y.float()
    for _ in range(cfg.steps):
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w, target)
        loss.backward()
        optimizer.step()
    return w.detach()


@dataclass
class ProbeResult:
    mode: str
    layer: int  # selected on dev (or fixed by probe.layer)
    dev_auc: list[float]  # per layer
    test_auc: list[float]  # per layer (reported only at ``layer``)
    train_acc: list[float]
    dev_scores: np.ndarray
    test_scores: np.ndarray


def check_layer(layer: int | None, n_layers: int) -> None:
    if layer is not None and not 0 <= layer < n_layers:
        raise ConfigError(f"probe.layer={layer} is out of range: the model has {n_layers} "
                          f"decoder layers (0..{n_layers - 1})")


def probe_all_layers(train_acts: torch.Tensor, train_y: list[int], dev_acts: torch.Tensor,
                     dev_y: list[int], test_acts: torch.Tensor, test_y: list[int],
                     cfg: ProbeConfig, mode: str, seed: int) -> ProbeResult:
    """Acts are [layers, n, d]. The layer is chosen by dev AUC only."""
    n_layers = train_acts.shape[0]
    check_layer(cfg.layer, n_layers)
    y = torch.tensor(train_y)
    dev_auc, test_auc, train_acc, dev_s, test_s = [], [], [], [], []
    for layer in range(n_layers):
        x, (xd, xt) = standardise(train_acts[layer], [dev_acts[layer], test_acts[layer]], mode)
        w = train_probe(x, y, cfg, seed + layer)
        train_acc.append(float(((x @ w > 0).long() == y).float().mean()))
        dev_s.append((xd @ w).numpy())
        test_s.append((xt @ w).numpy())
        dev_auc.append(auc(dev_y, dev_s[-1]))
        test_auc.append(auc(test_y, test_s[-1]))
    best = cfg.layer if cfg.layer is not None else int(np.argmax(dev_auc))
    return ProbeResult(mode, best, dev_auc, test_auc, train_acc, dev_s[best], test_s[best])
