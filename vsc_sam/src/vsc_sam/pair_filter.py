"""Pair-filter classifier: is this (query, reference) pair a copy at all?

The SAM paper runs a classifier over the similarity matrix before localisation and keeps only
pairs it accepts; false-positive heat-map components on non-copy pairs are what caps SAM-lite's
precision here (README). This is a small CNN on the matrix max-pooled to a fixed ``size x size``
grid, plus six scalar statistics (max, mean row-max, mean column-max, std, log sizes). It is
trained on TRAINING-split pairs (each training query's top candidate references by maximum frame
similarity, plus every GT pair; label = the pair holds a GT copy) and applied to test pairs by
rescaling every predicted segment's score: ``score' = score * p(copy)``, and dropping pairs
with ``p < min_prob`` (0 = rescale only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vsc_sam.formats import Match
from vsc_sam.retrieval import top_refs_by_max_similarity
from vsc_sam.schema import bounded

Pair = tuple[str, str]


@dataclass
class PairFilterConfig:
    size: int = bounded(32, low=4)
    width: int = bounded(16, low=1)
    steps: int = bounded(400, low=1)
    batch_size: int = bounded(64, low=1)
    lr: float = bounded(2e-3, above=0.0)
    weight_decay: float = bounded(1e-4, low=0.0)
    per_query: int = bounded(5, low=1)  # training pairs per training query (top refs) + GT
    min_prob: float = bounded(0.0, low=0.0, high=1.0)
    seed: int = 0


def matrix_features(sim: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(1, size, size) adaptive-max-pooled matrix and 6 scalar statistics."""
    sim = np.asarray(sim, dtype=np.float32)
    if sim.ndim != 2 or sim.size == 0:
        raise ValueError(f"similarity matrix must be 2-D and non-empty, got shape {sim.shape}")
    grid = F.adaptive_max_pool2d(torch.from_numpy(sim)[None, None], size)[0].numpy()
    scalars = np.array(
        [
            sim.max(),
            sim.max(1).mean(),
            sim.max(0).mean(),
            sim.std(),
            math.log(sim.shape[0]),
            math.log(sim.shape[1]),
        ],
        dtype=np.float32,
    )
    return grid, scalars


class PairFilterNet(nn.Module):
    def __init__(self, width: int = 16, n_scalars: int = 6):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.ReLU(inplace=True),
        )
        self.mlp = nn.Sequential(
            nn.Linear(4 * width + n_scalars, 32), nn.ReLU(inplace=True), nn.Linear(32, 1)
        )

    def forward(self, grid: torch.Tensor, scalars: torch.Tensor) -> torch.Tensor:
        h = self.conv(grid)
        pooled = torch.cat([h.amax((2, 3)), h.mean((2, 3))], 1)
        return self.mlp(torch.cat([pooled, scalars], 1))[:, 0]


def training_pairs(bench, desc: dict[str, np.ndarray], per_query: int) -> list[tuple[Pair, int]]:
    """Training-split pairs: each query's ``per_query`` most similar refs (max frame similarity)
    plus all GT pairs; label 1 for pairs with a GT copy."""
    gt = {m.pair_id for m in bench.ground_truth}
    refs = sorted(bench.refs)
    out = set(gt)
    for q in sorted(bench.queries):
        out |= {(q, r) for r in top_refs_by_max_similarity(desc, q, refs, per_query)}
    return [(p, int(p in gt)) for p in sorted(out)]


class PairFilter:
    def __init__(self, cfg: PairFilterConfig):
        self.cfg = cfg
        # Initial weights from cfg.seed alone, not from whatever ran earlier in the process.
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)
            self.net = PairFilterNet(cfg.width)
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def _tensors(self, matrices: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        feats = [matrix_features(m, self.cfg.size) for m in matrices]
        grids = torch.from_numpy(np.stack([g for g, _ in feats]))
        scalars = np.stack([s for _, s in feats])
        if self.mean is None:
            self.mean, self.std = scalars.mean(0), scalars.std(0) + 1e-6
        return grids, torch.from_numpy((scalars - self.mean) / self.std)

    def fit(self, matrices: list[np.ndarray], labels: list[int]) -> list[float]:
        labels_np = np.asarray(labels, dtype=np.float32)
        if len(matrices) != len(labels_np) or len(set(labels_np.tolist())) < 2:
            raise ValueError("pair filter needs matching matrices/labels with both classes")
        self.mean = self.std = None
        grids, scalars = self._tensors(matrices)
        y = torch.from_numpy(labels_np)
        pos_weight = torch.tensor((1 - labels_np.mean()) / labels_np.mean())
        rng = np.random.default_rng(self.cfg.seed)
        opt = torch.optim.AdamW(
            self.net.parameters(), self.cfg.lr, weight_decay=self.cfg.weight_decay
        )
        losses = []
        self.net.train()
        for _ in range(self.cfg.steps):
            idx = torch.from_numpy(rng.choice(len(y), min(self.cfg.batch_size, len(y)), False))
            logits = self.net(grids[idx], scalars[idx])
            loss = F.binary_cross_entropy_with_logits(logits, y[idx], pos_weight=pos_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        self.net.eval()
        return losses

    @torch.no_grad()
    def predict(self, matrices: list[np.ndarray]) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError("PairFilter.fit must be called before predict")
        grids, scalars = self._tensors(matrices)
        return torch.sigmoid(self.net(grids, scalars)).numpy()


def apply_filter(predictions: list[Match], probs: dict[Pair, float], min_prob: float = 0.0):
    """Rescale each prediction's score by its pair's copy probability; drop pairs below
    ``min_prob``. Pairs without a probability are an error (no silent pass-through)."""
    out = []
    for m in predictions:
        if m.pair_id not in probs:
            raise KeyError(f"pair filter has no probability for pair {m.pair_id}")
        p = float(probs[m.pair_id])
        if p >= min_prob:
            out.append(replace(m, score=m.score * p))
    return out
