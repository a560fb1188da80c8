"""VCSL-style Temporal Network (TN) localiser, the official VSC baseline's aligner.

Nodes are each query frame's top-k reference frames above ``min_sim``. An edge joins node
(i, j) to (i', j') when 0 < i' - i <= max_step and 0 <= j' - j <= max_step (temporal
consistency; j may stay put so slow-motion copies still chain). The heaviest path (sum of
similarities) is extracted, its nodes removed, and the search repeated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vsc_sam.localization.segments import Segment


@dataclass
class TemporalNetwork:
    top_k: int = 5
    min_sim: float = 0.3
    max_step: int = 5
    min_length: int = 4  # frames on both axes
    max_iou: float = 0.3
    max_segments: int = 10

    def __call__(self, sim: np.ndarray) -> list[Segment]:
        h, w = sim.shape
        k = min(self.top_k, w)
        top = (
            np.argpartition(-sim, k - 1, axis=1)[:, :k] if k < w else np.tile(np.arange(w), (h, 1))
        )
        nodes = [(i, int(j)) for i in range(h) for j in top[i] if sim[i, j] >= self.min_sim]
        nodes.sort()
        alive = set(nodes)
        segments: list[Segment] = []
        while alive and len(segments) < self.max_segments:
            path = self._heaviest_path(sorted(alive), sim)
            if not path:
                break
            alive.difference_update(path)
            qs, qe = path[0][0], path[-1][0] + 1
            js = [j for _, j in path]
            rs, re = min(js), max(js) + 1
            if qe - qs < self.min_length or re - rs < self.min_length:
                continue
            candidate = Segment(qs, qe, rs, re, float(np.mean([sim[i, j] for i, j in path])))
            if all(_iou(candidate, s) <= self.max_iou for s in segments):
                segments.append(candidate)
        return segments

    def _heaviest_path(
        self, nodes: list[tuple[int, int]], sim: np.ndarray
    ) -> list[tuple[int, int]]:
        by_row: dict[int, list[int]] = {}
        for n, (i, _) in enumerate(nodes):
            by_row.setdefault(i, []).append(n)
        best = np.zeros(len(nodes))
        parent = np.full(len(nodes), -1)
        for n, (i, j) in enumerate(nodes):
            best[n] = sim[i, j]
            for pi in range(i - self.max_step, i):
                for p in by_row.get(pi, ()):
                    pj = nodes[p][1]
                    if 0 <= j - pj <= self.max_step and best[p] + sim[i, j] > best[n]:
                        best[n], parent[n] = best[p] + sim[i, j], p
        if not len(nodes):
            return []
        n = int(np.argmax(best))
        path = []
        while n >= 0:
            path.append(nodes[n])
            n = int(parent[n])
        return path[::-1]


def _iou(a: Segment, b: Segment) -> float:
    inter = max(0.0, min(a.q_end, b.q_end) - max(a.q_start, b.q_start)) * max(
        0.0, min(a.r_end, b.r_end) - max(a.r_start, b.r_start)
    )
    union = (
        (a.q_end - a.q_start) * (a.r_end - a.r_start)
        + (b.q_end - b.q_start) * (b.r_end - b.r_start)
        - inter
    )
    return inter / union if union > 0 else 0.0
