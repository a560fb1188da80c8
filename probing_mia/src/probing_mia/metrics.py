"""MIA metrics: ROC / AUC, TPR at a fixed FPR (strict and non-strict), bootstrap intervals.

Scores are oriented "higher = member"; labels are 1 for members. The ROC construction follows
sklearn's ``roc_curve`` (one point per distinct threshold, ties moved together), so AUC with ties
equals sklearn's; the official code's TPR@5%FPR is the TPR of the last ROC point with FPR < 0.05
(strict); the non-strict variant allows FPR <= x.
"""

from __future__ import annotations

import numpy as np

from probing_mia.errors import DataError


def _check(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise DataError(f"labels {y.shape} and scores {s.shape} must be equal-length vectors")
    if not np.isin(y, (0, 1)).all():
        raise DataError(f"labels must be 0/1, got values {sorted(set(y.tolist()) - {0, 1})}")
    if y.min() == y.max():
        raise DataError("labels hold a single class: AUC and TPR@FPR need members and "
                        "non-members")
    if not np.isfinite(s).all():
        raise DataError(f"{int((~np.isfinite(s)).sum())} scores are NaN or infinite")
    return y.astype(np.int64), s


def roc(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), starting at (0, 0); one point per distinct score."""
    y, s = _check(labels, scores)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    tps = np.cumsum(y)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    tpr = np.r_[0.0, tps / y.sum()]
    fpr = np.r_[0.0, fps / (y.size - y.sum())]
    return fpr, tpr, np.r_[np.inf, s[last_of_tie]]


def auc(labels, scores) -> float:
    fpr, tpr, _ = roc(labels, scores)
    return float(np.trapezoid(tpr, fpr))


def tpr_at_fpr(labels, scores, max_fpr: float, strict: bool = True) -> float:
    """Largest TPR among ROC points with FPR < max_fpr (strict, the paper's) or <= max_fpr."""
    fpr, tpr, _ = roc(labels, scores)
    ok = fpr < max_fpr if strict else fpr <= max_fpr
    return float(tpr[ok].max())


def summary(labels, scores, fprs=(0.05, 0.01)) -> dict:
    out = {"auc": auc(labels, scores)}
    for x in fprs:
        out[f"tpr@{x:g}fpr"] = tpr_at_fpr(labels, scores, x)
    return out


def bootstrap(labels, scores, n: int = 1000, seed: int = 0, fprs=(0.05, 0.01),
              level: float = 0.95) -> dict:
    """Point values and percentile intervals; resamples members and non-members separately so
    every replicate has both classes (stratified bootstrap)."""
    y, s = _check(labels, scores)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    reps: dict[str, list[float]] = {}
    for _ in range(n):
        idx = np.r_[rng.choice(pos, pos.size), rng.choice(neg, neg.size)]
        for key, value in summary(y[idx], s[idx], fprs).items():
            reps.setdefault(key, []).append(value)
    tail = (1 - level) / 2 * 100
    point = summary(y, s, fprs)
    return {key: {"value": point[key],
                  "ci": [float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))]}
            for key, v in reps.items()}


def paired_difference(labels, scores_a, scores_b, n: int = 1000, seed: int = 0,
                      level: float = 0.95) -> dict:
    """AUC(a) - AUC(b) on the same items with a paired stratified bootstrap interval."""
    y, a = _check(labels, scores_a)
    _, b = _check(labels, scores_b)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    diffs = []
    for _ in range(n):
        idx = np.r_[rng.choice(pos, pos.size), rng.choice(neg, neg.size)]
        diffs.append(auc(y[idx], a[idx]) - auc(y[idx], b[idx]))
    tail = (1 - level) / 2 * 100
    return {"value": auc(y, a) - auc(y, b),
            "ci": [float(np.percentile(diffs, tail)), float(np.percentile(diffs, 100 - tail))]}
