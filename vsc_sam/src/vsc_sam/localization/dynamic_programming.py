"""Local-alignment dynamic programming (DTW-like) localiser.

Smith-Waterman on (sim - bias) with steps (1,1), (1,2), (2,1), so speeds between x0.5 and x2
stay on one path. The best local alignment is extracted, its box is masked out, and the search
repeats. Each row depends only on the two rows above, so rows are vectorised over columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vsc_sam.localization.segments import Segment
from vsc_sam.schema import bounded

_STEPS = ((1, 1), (1, 2), (2, 1))


@dataclass
class DynamicProgramming:
    bias: float = 0.35  # similarity counted as neither evidence for nor against a copy
    min_length: int = bounded(4, low=1)
    min_score: float = 1.0  # minimum accumulated (sim - bias) of a path
    max_segments: int = bounded(10, low=1)

    def __call__(self, sim: np.ndarray) -> list[Segment]:
        work = sim.astype(np.float64) - self.bias
        segments = []
        for _ in range(self.max_segments):
            path, total = self._best_path(work)
            if total < self.min_score or not path:
                break
            qs, qe = path[0][0], path[-1][0] + 1
            rs, re = path[0][1], path[-1][1] + 1
            work[qs:qe, rs:re] = -np.inf  # no later path may reuse these cells
            if qe - qs >= self.min_length and re - rs >= self.min_length:
                segments.append(
                    Segment(qs, qe, rs, re, float(np.mean([sim[i, j] for i, j in path])))
                )
        return segments

    @staticmethod
    def _best_path(gain: np.ndarray) -> tuple[list[tuple[int, int]], float]:
        h, w = gain.shape
        score = np.zeros((h + 2, w + 2))  # two rows/cols of zero padding for the steps
        step = np.full((h + 2, w + 2), -1, dtype=np.int8)
        for i in range(2, h + 2):
            options = np.stack([score[i - di, 2 - dj : w + 2 - dj] for di, dj in _STEPS])
            choice = options.argmax(0)
            prev = options[choice, np.arange(w)]
            extend = prev > 0
            g = gain[i - 2]
            value = np.where(extend, prev, 0.0) + g
            ok = np.isfinite(value) & (value > 0)
            score[i, 2:] = np.where(ok, value, 0.0)
            step[i, 2:] = np.where(ok & extend, choice, -1)
        flat = int(np.argmax(score))
        i, j = divmod(flat, w + 2)
        total = float(score[i, j])
        path = []
        while score[i, j] > 0:
            path.append((i - 2, j - 2))
            s = step[i, j]
            if s < 0:
                break
            i, j = i - _STEPS[s][0], j - _STEPS[s][1]
        return path[::-1], total
