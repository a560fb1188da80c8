"""Training samples for SAM: synthesised similarity matrices and the paper's augmentations.

Synthesised matrices mimic what descriptors produce: block structure from shots (frames of one
shot resemble each other), a noisy background, bright non-copy distractor blocks and static
bands, and copy lines with speed changes, freezes and edit-dependent strength. Because SAM only
sees similarities, such matrices are valid training data for any descriptor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from vsc_sam.localization.heatmap import copy_line_target


@dataclass
class SynthesisConfig:
    min_size: int = 12
    max_size: int = 64
    copy_prob: float = 0.7
    speed_range: tuple[float, float] = (0.67, 1.5)
    reversal_prob: float = 0.05


def _shot_partition(rng: np.random.Generator, n: int) -> np.ndarray:
    labels, start, shot = np.zeros(n, dtype=np.int64), 0, 0
    while start < n:
        length = int(rng.integers(2, 13))
        labels[start : start + length] = shot
        start, shot = start + length, shot + 1
    return labels


def synthesize_similarity(
    rng: np.random.Generator, cfg: SynthesisConfig
) -> tuple[np.ndarray, list[tuple[float, float, float, float]], list[bool]]:
    """One (h, w) similarity matrix and its copy segments (frame units) and reversal flags."""
    h, w = (int(rng.integers(cfg.min_size, cfg.max_size + 1)) for _ in range(2))
    rows, cols = _shot_partition(rng, h), _shot_partition(rng, w)
    level = rng.uniform(0.0, 0.3)
    blocks = rng.normal(level, rng.uniform(0.03, 0.12), (rows.max() + 1, cols.max() + 1))
    sim = blocks[rows][:, cols] + rng.normal(0, rng.uniform(0.03, 0.1), (h, w))
    if rng.random() < 0.4:  # a similar-looking but uncopied block (hard negative)
        i, j = rng.integers(h), rng.integers(w)
        sim[i : i + int(rng.integers(3, 12)), j : j + int(rng.integers(3, 12))] += rng.uniform(
            0.2, 0.5
        )
    if rng.random() < 0.2:  # a static frame resembling a whole range of the other video
        sim[int(rng.integers(h)), :] += rng.uniform(0.2, 0.5)
    segments, flags = [], []
    n_copies = int(rng.integers(1, 3)) if rng.random() < cfg.copy_prob else 0
    for _ in range(n_copies):
        speed = float(np.exp(rng.uniform(*np.log(cfg.speed_range)))) if rng.random() < 0.4 else 1.0
        length = int(rng.integers(3, max(4, min(h, int(w / speed)))))
        if length * speed > w - 1 or length > h:
            continue
        qs = int(rng.integers(0, h - length + 1))
        rs = float(rng.uniform(0, w - length * speed))
        rev = bool(rng.random() < cfg.reversal_prob)
        strength = rng.uniform(0.3, 0.8)
        for k in range(length):
            t = (length - 1 - k) if rev else k
            r = rs + (t + 0.5) * speed
            j = int(r)
            if j < w and rng.random() > 0.1:  # 10% of copied frames are dropped or unrecognisable
                sim[qs + k, j] = max(sim[qs + k, j], level + strength + rng.normal(0, 0.08))
                # neighbouring ref frames at slow speeds also look alike
                if speed < 1 and j + 1 < w:
                    sim[qs + k, j + 1] = max(sim[qs + k, j + 1], level + 0.7 * strength)
        segments.append((float(qs), float(qs + length), rs, rs + length * speed))
        flags.append(rev)
    return np.clip(sim, -1, 1).astype(np.float32), segments, flags


def augment(
    sim: np.ndarray, target: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's augmentations: 50% transpose (input and target), then p=0.3 Gaussian blur,
    p=0.3 additive uniform noise +-0.125, p=0.1 element-wise sqrt(|x|)."""
    if rng.random() < 0.5:
        sim, target = sim.T, target.T
    sim = sim.copy()
    if rng.random() < 0.3:
        sim = ndimage.gaussian_filter(sim, sigma=rng.uniform(0.1, 0.7), truncate=3.0)
    if rng.random() < 0.3:
        sim = sim + rng.uniform(-0.125, 0.125, sim.shape).astype(np.float32)
    if rng.random() < 0.1:
        sim = np.sqrt(np.abs(sim))
    return sim.astype(np.float32), np.ascontiguousarray(target)


def pad_to_canvas(
    sim: np.ndarray, target: np.ndarray, canvas: int
) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad (and truncate beyond) to a square canvas, as the paper does for training."""
    x = np.zeros((canvas, canvas), np.float32)
    t = np.zeros((canvas, canvas), np.float32)
    h, w = min(sim.shape[0], canvas), min(sim.shape[1], canvas)
    x[:h, :w], t[:h, :w] = sim[:h, :w], target[:h, :w]
    return x, t


def synthesized_sample(
    rng: np.random.Generator, cfg: SynthesisConfig
) -> tuple[np.ndarray, np.ndarray]:
    sim, segments, flags = synthesize_similarity(rng, cfg)
    return sim, copy_line_target(sim.shape, segments, flags)
