"""SAM post-processing: heat-map -> segments by connected components and weighted line fits.

Follows the paper's §2.4 (vision.md §A4.5) with two deliberate fixes: a segment ends at the last
inlier frame + 1 (frame k covers [k, k+1) s; the released code cut every end by 1 s), and
reversed copies (negative slope) can be reported instead of being dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from vsc_sam.localization.segments import Segment

DEFAULT_PASSES = ((0.35, 0.5), (0.1, 1.25), (0.001, 2.0))  # (threshold, alpha) as in the paper


def weighted_ransac_line(
    x: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    trials: int = 200,
    residual_threshold: float = 2.0,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Fit y = a*x + b. Two-point hypotheses drawn with probability ~ weight; the hypothesis
    with the largest inlier weight is refined by weighted least squares on its inliers."""
    if len(np.unique(x)) < 2:
        return None
    rng = np.random.default_rng(seed)
    # All hypotheses at once: (trials, 2) point indices drawn with probability ~ weight.
    idx = rng.choice(len(x), size=(trials, 2), replace=True, p=weight / weight.sum())
    xi, xj, yi, yj = x[idx[:, 0]], x[idx[:, 1]], y[idx[:, 0]], y[idx[:, 1]]
    valid = xi != xj
    if not valid.any():
        return None
    a = (yj[valid] - yi[valid]) / (xj[valid] - xi[valid])
    b = yi[valid] - a * xi[valid]
    inlier_sets = np.abs(y[None, :] - (a[:, None] * x[None, :] + b[:, None])) < residual_threshold
    best = inlier_sets[int(np.argmax(inlier_sets @ weight))]
    if len(np.unique(x[best])) < 2:
        return None
    a, b = np.polyfit(x[best], y[best], 1, w=np.sqrt(weight[best]))
    return float(a), float(b)


@dataclass
class LineDecoder:
    passes: tuple[tuple[float, float], ...] = DEFAULT_PASSES
    min_component: int = 10  # pixels; smaller fragments join every big component's fit
    min_inliers: int = 6
    min_distinct: int = 4
    allow_reversed: bool = True
    official_end_cut: bool = False  # reproduce the released code's end = last inlier (for study)
    seed: int = 0

    def __call__(self, heat: np.ndarray) -> list[Segment]:
        found: dict[tuple, float] = {}
        for threshold, alpha in self.passes:
            for seg in self.decode_once(heat, threshold, alpha):
                key = (seg.q_start, seg.q_end, seg.r_start, seg.r_end)
                found[key] = max(found.get(key, -np.inf), seg.score)  # duplicates keep the max
        return [Segment(*key, score) for key, score in found.items()]

    def decode_once(self, heat: np.ndarray, threshold: float, alpha: float) -> list[Segment]:
        mask = heat > threshold
        labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
        if n == 0:
            return []
        sizes = np.bincount(labels.ravel())
        big = [c for c in range(1, n + 1) if sizes[c] > self.min_component]
        leftovers = np.isin(labels, [c for c in range(1, n + 1) if c not in big])
        groups = [(labels == c) | leftovers for c in big] if big else [mask]
        return [s for g in groups if (s := self._fit(g, heat, alpha)) is not None]

    def _fit(self, cells: np.ndarray, heat: np.ndarray, alpha: float) -> Segment | None:
        x, y = np.nonzero(cells)  # x: query frame, y: reference frame
        if len(np.unique(x)) < self.min_distinct:
            return None
        weight = heat[x, y].astype(np.float64) ** 2 + 1e-12
        line = weighted_ransac_line(x.astype(float), y.astype(float), weight, seed=self.seed)
        if line is None:
            return None
        a, b = line
        if a == 0 or (a < 0 and not self.allow_reversed):
            return None
        inliers = np.abs(y - (a * x + b)) < 1
        xi, yi = x[inliers], y[inliers]
        if (
            inliers.sum() < self.min_inliers
            or len(np.unique(xi)) < self.min_distinct
            or len(np.unique(yi)) < self.min_distinct
        ):
            return None
        values = heat[xi, yi]
        c = max(abs(a), 1 / abs(a))
        score = float(values.max() - alpha * values.std() - abs(c - 1) / 10)
        end = 0 if self.official_end_cut else 1
        return Segment(
            int(xi.min()), int(xi.max()) + end, int(yi.min()), int(yi.max()) + end, score
        )
