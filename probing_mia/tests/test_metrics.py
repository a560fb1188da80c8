"""Metric invariants: AUC extremes, monotone invariance, ties as sklearn, TPR@FPR conventions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score, roc_curve

from probing_mia import metrics
from probing_mia.errors import DataError

labelled = st.lists(st.tuples(st.integers(0, 1), st.integers(-5, 5)), min_size=2, max_size=60
                    ).filter(lambda rows: len({y for y, _ in rows}) == 2)


def test_auc_extremes():
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    s = np.arange(7.0)
    assert metrics.auc(y, s) == 1.0
    assert metrics.auc(y, -s) == 0.0
    assert metrics.auc(y, np.zeros(7)) == 0.5


@given(labelled)
def test_auc_and_roc_equal_sklearn_with_ties(rows):
    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows], dtype=float)  # small integer range: many ties
    fpr, tpr, thr = metrics.roc(y, s)
    ref_fpr, ref_tpr, ref_thr = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr)
    np.testing.assert_allclose(tpr, ref_tpr)
    np.testing.assert_allclose(thr[1:], ref_thr[1:])
    assert metrics.auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


@given(labelled)
def test_invariant_under_strictly_increasing_transforms(rows):
    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows], dtype=float)
    for transform in (np.exp, lambda v: 3 * v - 7, lambda v: v ** 3, np.arctan):
        assert metrics.auc(y, transform(s)) == pytest.approx(metrics.auc(y, s), abs=1e-12)
        assert metrics.tpr_at_fpr(y, transform(s), 0.05) == metrics.tpr_at_fpr(y, s, 0.05)


@given(labelled, st.floats(0.001, 0.5), st.floats(0.0, 0.5))
def test_tpr_at_fpr_is_non_decreasing(rows, x, delta):
    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows], dtype=float)
    assert metrics.tpr_at_fpr(y, s, x) <= metrics.tpr_at_fpr(y, s, min(1.0, x + delta))
    assert metrics.tpr_at_fpr(y, s, x, strict=True) <= metrics.tpr_at_fpr(y, s, x, strict=False)


def test_strict_and_non_strict_convention_pinned():
    # 20 non-members, 10 members. The top non-member (score 100) gives FPR exactly 0.05.
    y = np.r_[np.ones(10), np.zeros(20)].astype(int)
    s = np.r_[np.arange(200, 190, -1)[:4], [99, 98, 97, 96, 95, 94],  # 4 members above the
              [100], np.arange(19)]                                    # top non-member
    # Strict (< 0.05, the official code): only points with FPR 0 -> 4 members.
    assert metrics.tpr_at_fpr(y, s, 0.05, strict=True) == 0.4
    # Non-strict (<= 0.05): the point after the top non-member -> all 10 members.
    assert metrics.tpr_at_fpr(y, s, 0.05, strict=False) == 1.0


def test_bad_inputs_are_refused():
    with pytest.raises(DataError, match="single class"):
        metrics.auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(DataError, match="0/1"):
        metrics.auc([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(DataError, match="NaN"):
        metrics.auc([0, 1], [0.1, float("nan")])


def test_bootstrap_interval_brackets_point_and_difference_is_zero_on_self():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(100), np.zeros(100)].astype(int)
    s = y + rng.normal(0, 1.5, 200)
    out = metrics.bootstrap(y, s, n=200, seed=1)
    lo, hi = out["auc"]["ci"]
    assert lo < out["auc"]["value"] < hi and hi - lo < 0.25
    diff = metrics.paired_difference(y, s, s, n=50)
    assert diff["value"] == 0 and diff["ci"] == [0.0, 0.0]
