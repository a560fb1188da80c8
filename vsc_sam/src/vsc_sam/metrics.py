"""The official VSC-2022 metrics, re-implemented from their definition.

* ``segment_micro_ap``: matching-track segment-level micro AP (``vsc/metrics.py::match_metric``):
  1-D precision/recall of box projections on both axes, combined by geometric means, walked over
  predictions in groups of equal score; a GT box only counts for intersection once a prediction of
  its pair overlaps it in 2-D with positive area.
* ``candidate_micro_ap``: descriptor-track uAP (scikit-learn AP times the fraction of GT pairs that
  were predicted at all).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby

import numpy as np
from sklearn.metrics import average_precision_score

from vsc_sam.formats import CandidatePair, FormatError, Match, validate_matches

Interval = tuple[float, float]


def union_intervals(intervals: Sequence[Interval]) -> list[Interval]:
    """Sorted, disjoint union of closed-open intervals (touching intervals are merged)."""
    merged: list[list[float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def total_length(intervals: Sequence[Interval]) -> float:
    return sum(b - a for a, b in union_intervals(intervals))


def intersection_length(a: Sequence[Interval], b: Sequence[Interval]) -> float:
    """Length of (union of a) ∩ (union of b), by a two-pointer sweep over both unions."""
    ua, ub = union_intervals(a), union_intervals(b)
    i = j = 0
    length = 0.0
    while i < len(ua) and j < len(ub):
        lo, hi = max(ua[i][0], ub[j][0]), min(ua[i][1], ub[j][1])
        if hi > lo:
            length += hi - lo
        if ua[i][1] < ub[j][1]:
            i += 1
        else:
            j += 1
    return length


def _axis(m: Match, axis: int) -> Interval:
    return (m.query_start, m.query_end) if axis == 0 else (m.ref_start, m.ref_end)


def boxes_overlap(a: Match, b: Match) -> bool:
    """2-D overlap with positive area."""
    return min(a.query_end, b.query_end) > max(a.query_start, b.query_start) and min(
        a.ref_end, b.ref_end
    ) > max(a.ref_start, b.ref_start)


@dataclass
class _PairState:
    gts: list[Match] = field(default_factory=list)
    preds: list[Match] = field(default_factory=list)
    inter: list[float] = field(default_factory=lambda: [0.0, 0.0])
    total: list[float] = field(default_factory=lambda: [0.0, 0.0])

    def add(self, pred: Match) -> tuple[list[float], list[float]]:
        """Add a prediction; return the change of intersection and total per axis."""
        self.preds.append(pred)
        considered = [g for g in self.gts if any(boxes_overlap(g, p) for p in self.preds)]
        d_inter, d_total = [0.0, 0.0], [0.0, 0.0]
        for axis in (0, 1):
            pred_iv = [_axis(p, axis) for p in self.preds]
            inter = intersection_length(pred_iv, [_axis(g, axis) for g in considered])
            total = total_length(pred_iv)
            d_inter[axis], d_total[axis] = inter - self.inter[axis], total - self.total[axis]
            self.inter[axis], self.total[axis] = inter, total
        return d_inter, d_total


@dataclass(frozen=True)
class PRCurve:
    recall: np.ndarray
    precision: np.ndarray
    ap: float


def segment_pr_curve(gts: Sequence[Match], predictions: Sequence[Match]) -> PRCurve:
    """Matching-track precision/recall curve and micro AP (official definition)."""
    validate_matches(predictions, "predictions")
    validate_matches(gts, "ground truth")
    pairs: dict[tuple[str, str], _PairState] = defaultdict(_PairState)
    for g in gts:
        pairs[g.pair_id].gts.append(g)
    gt_len = [
        sum(total_length([_axis(g, a) for g in s.gts]) for s in pairs.values()) for a in (0, 1)
    ]
    if min(gt_len) <= 0:
        raise FormatError("ground truth has zero total length on an axis; cannot compute recall")
    inter, total = [0.0, 0.0], [0.0, 0.0]
    recalls, precisions = [], []
    ap, prev_recall = 0.0, 0.0
    ordered = sorted(predictions, key=lambda m: -m.score)
    for _, group in groupby(ordered, key=lambda m: m.score):
        for pred in group:
            d_inter, d_total = pairs[pred.pair_id].add(pred)
            for axis in (0, 1):
                inter[axis] += d_inter[axis]
                total[axis] += d_total[axis]
        recall = math.sqrt((inter[0] / gt_len[0]) * (inter[1] / gt_len[1]))
        precision = (
            math.sqrt((inter[0] / total[0]) * (inter[1] / total[1]))
            if total[0] > 0 and total[1] > 0
            else 0.0
        )
        if recall > prev_recall:
            ap += precision * (recall - prev_recall)
            prev_recall = recall
            recalls.append(recall)
            precisions.append(precision)
    return PRCurve(np.asarray(recalls), np.asarray(precisions), ap)


def segment_micro_ap(gts: Sequence[Match], predictions: Sequence[Match]) -> float:
    return segment_pr_curve(gts, predictions).ap


def candidate_micro_ap(
    gt_pairs: Sequence[CandidatePair | tuple[str, str]], predictions: Sequence[CandidatePair]
) -> float:
    """Descriptor-track uAP; duplicates in either list raise ``FormatError``."""
    gt_ids = [p.pair_id if isinstance(p, CandidatePair) else tuple(p) for p in gt_pairs]
    gt_set = set(gt_ids)
    if len(gt_set) != len(gt_ids):
        raise FormatError("duplicate pairs in ground truth")
    pred_ids = [p.pair_id for p in predictions]
    if len(set(pred_ids)) != len(pred_ids):
        raise FormatError("duplicate pairs in predictions")
    scores = np.array([p.score for p in predictions], dtype=np.float64)
    if np.isnan(scores).any():
        raise FormatError("NaN score in predictions")
    labels = np.array([pid in gt_set for pid in pred_ids], dtype=bool)
    if not gt_set or not labels.any():
        return 0.0
    predicted_fraction = labels.sum() / len(gt_set)
    return float(average_precision_score(labels, scores) * predicted_fraction)


def pairs_from_matches(matches: Sequence[Match]) -> list[CandidatePair]:
    """Pair-level predictions from segments: the max segment score per pair."""
    best: dict[tuple[str, str], float] = {}
    for m in matches:
        best[m.pair_id] = max(best.get(m.pair_id, -math.inf), m.score)
    return [CandidatePair(q, r, s) for (q, r), s in best.items()]


def pairwise_micro_ap(gts: Sequence[Match], predictions: Sequence[Match]) -> float:
    """The auxiliary pair-level uAP reported by the official matching evaluation."""
    gt_pairs = sorted({g.pair_id for g in gts})
    return candidate_micro_ap(gt_pairs, pairs_from_matches(predictions))


def bootstrap_values(
    gts: Sequence[Match],
    runs: Sequence[Sequence[Match]],
    query_ids: Sequence[str],
    n_resamples: int = 200,
    seed: int = 0,
) -> np.ndarray:
    """Segment µAP of each prediction set in ``runs`` on the same query resamples (with
    replacement), shape (resamples, runs): paired, so differences between runs keep their
    correlation. A query drawn k times appears as k distinct copies (ids suffixed), as in a
    larger benchmark; resamples without any GT are skipped."""
    rng = np.random.default_rng(seed)
    gt_by_q: dict[str, list[Match]] = defaultdict(list)
    for g in gts:
        gt_by_q[g.query_id].append(g)
    preds_by_q = []
    for predictions in runs:
        by_q: dict[str, list[Match]] = defaultdict(list)
        for m in predictions:
            by_q[m.query_id].append(m)
        preds_by_q.append(by_q)
    ids = list(query_ids)
    values = []
    for _ in range(n_resamples):
        drawn = rng.choice(len(ids), size=len(ids), replace=True)
        sample_gt = [
            _rename(m, f"{ids[q]}#{copy}") for copy, q in enumerate(drawn) for m in gt_by_q[ids[q]]
        ]
        if not sample_gt:
            continue
        row = []
        for by_q in preds_by_q:
            sample = [
                _rename(m, f"{ids[q]}#{copy}") for copy, q in enumerate(drawn) for m in by_q[ids[q]]
            ]
            row.append(segment_micro_ap(sample_gt, sample))
        values.append(row)
    return np.asarray(values, dtype=np.float64).reshape(-1, len(runs))


def bootstrap_micro_ap(
    gts: Sequence[Match],
    predictions: Sequence[Match],
    query_ids: Sequence[str],
    n_resamples: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap CI of segment µAP, resampling queries with replacement."""
    values = bootstrap_values(gts, [predictions], query_ids, n_resamples, seed)[:, 0]
    if not len(values):
        return (float("nan"), float("nan"))
    alpha = (1 - level) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def bootstrap_difference(
    gts: Sequence[Match],
    predictions_a: Sequence[Match],
    predictions_b: Sequence[Match],
    query_ids: Sequence[str],
    n_resamples: int = 200,
    seed: int = 0,
) -> dict:
    """µAP(a) - µAP(b) with its paired bootstrap SE and 95% percentile interval, and the SE of
    µAP(a) alone."""
    values = bootstrap_values(gts, [predictions_a, predictions_b], query_ids, n_resamples, seed)
    diff = values[:, 0] - values[:, 1]
    point = segment_micro_ap(gts, predictions_a) - segment_micro_ap(gts, predictions_b)
    if not len(diff):
        return {"difference": point, "se": float("nan"), "ci95": [float("nan")] * 2}
    return {
        "difference": point,
        "se": float(diff.std(ddof=1)) if len(diff) > 1 else float("nan"),
        "ci95": [float(np.quantile(diff, 0.025)), float(np.quantile(diff, 0.975))],
        "se_a": float(values[:, 0].std(ddof=1)) if len(diff) > 1 else float("nan"),
    }


def _rename(m: Match, query_id: str) -> Match:
    return Match(query_id, m.ref_id, m.query_start, m.query_end, m.ref_start, m.ref_end, m.score)


def box_iou(a: Match, b: Match) -> float:
    inter = max(0.0, min(a.query_end, b.query_end) - max(a.query_start, b.query_start)) * max(
        0.0, min(a.ref_end, b.ref_end) - max(a.ref_start, b.ref_start)
    )
    area_a = (a.query_end - a.query_start) * (a.ref_end - a.ref_start)
    area_b = (b.query_end - b.query_start) * (b.ref_end - b.ref_start)
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def boundary_errors(gts: Sequence[Match], predictions: Sequence[Match]) -> dict[str, float]:
    """Boundary precision, reported apart from µAP.

    For each GT segment, the best-IoU prediction of its pair; mean absolute error (seconds) of
    each of the four boundaries over found segments, and the fraction of GT segments whose four
    boundaries are all within 1 s.
    """
    by_pair: dict[tuple[str, str], list[Match]] = defaultdict(list)
    for p in predictions:
        by_pair[p.pair_id].append(p)
    errors, within = [], 0
    for g in gts:
        candidates = [(box_iou(g, p), p) for p in by_pair.get(g.pair_id, [])]
        candidates = [c for c in candidates if c[0] > 0]
        if not candidates:
            continue
        _, best = max(candidates, key=lambda c: c[0])
        err = np.abs(
            np.array(
                [
                    best.query_start - g.query_start,
                    best.query_end - g.query_end,
                    best.ref_start - g.ref_start,
                    best.ref_end - g.ref_end,
                ]
            )
        )
        errors.append(err)
        within += bool((err <= 1.0).all())
    if not errors:
        return {
            "found": 0,
            "mean_abs_start_s": float("nan"),
            "mean_abs_end_s": float("nan"),
            "within_1s": 0.0,
        }
    e = np.stack(errors)
    return {
        "found": len(errors),
        "mean_abs_start_s": float(e[:, [0, 2]].mean()),
        "mean_abs_end_s": float(e[:, [1, 3]].mean()),
        "within_1s": within / len(gts),
    }
