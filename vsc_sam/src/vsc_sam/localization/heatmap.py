"""SAM training targets: the soft "copy-line" heat-map generated from GT segments.

For a segment (qs, qe, rs, re) in frame units, every cell (i, j) of its rectangle gets
sqrt(1 - |d|) when its centre (i + .5, j + .5) lies at perpendicular distance |d| < 1 from the
line (qs, rs) -> (qe, re) (or (qs, re) -> (qe, rs) for a reversed copy), else 0; the map is the
max over segments.
"""

from __future__ import annotations

import numpy as np


def copy_line_target(shape: tuple[int, int], segments, reversed_flags=None) -> np.ndarray:
    h, w = shape
    target = np.zeros((h, w), dtype=np.float32)
    flags = reversed_flags if reversed_flags is not None else [False] * len(segments)
    for (qs, qe, rs, re), rev in zip(segments, flags, strict=True):
        i0, i1 = max(0, int(np.floor(qs))), min(h, int(np.ceil(qe)))
        j0, j1 = max(0, int(np.floor(rs))), min(w, int(np.ceil(re)))
        if i1 <= i0 or j1 <= j0:
            continue
        ii, jj = np.meshgrid(np.arange(i0, i1) + 0.5, np.arange(j0, j1) + 0.5, indexing="ij")
        y0, y1 = (re, rs) if rev else (rs, re)
        dx, dy = qe - qs, y1 - y0
        norm = np.hypot(dx, dy)
        if norm == 0:
            continue
        d = np.abs((ii - qs) * dy - (jj - y0) * dx) / norm
        value = np.where(d < 1, np.sqrt(np.clip(1 - d, 0, 1)), 0.0)
        target[i0:i1, j0:j1] = np.maximum(target[i0:i1, j0:j1], value)
    return target
