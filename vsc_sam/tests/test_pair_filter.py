"""Pair-filter classifier: features, learning to separate copy from non-copy matrices, score
rescaling, training pairs from the training split."""

import numpy as np
import pytest
import torch
from vsc_sam.formats import Match
from vsc_sam.localization.training_data import SynthesisConfig, synthesize_similarity
from vsc_sam.pair_filter import (
    PairFilter,
    PairFilterConfig,
    apply_filter,
    matrix_features,
    training_pairs,
)


def test_matrix_features_shapes_and_statistics():
    sim = np.zeros((7, 50), np.float32)
    sim[3, 20] = 0.9
    grid, scalars = matrix_features(sim, 16)
    assert grid.shape == (1, 16, 16) and grid.max() == pytest.approx(0.9)
    assert scalars[0] == pytest.approx(0.9)  # max
    assert scalars[1] == pytest.approx(0.9 / 7)  # mean row-max
    assert scalars[2] == pytest.approx(0.9 / 50)  # mean column-max
    assert scalars[4] == pytest.approx(np.log(7)) and scalars[5] == pytest.approx(np.log(50))
    with pytest.raises(ValueError, match="2-D"):
        matrix_features(np.zeros((0, 3)), 16)


def _matrices(n, seed):
    rng = np.random.default_rng(seed)
    mats, labels = [], []
    for i in range(n):
        positive = i % 2
        cfg = SynthesisConfig(min_size=12, max_size=40, copy_prob=float(positive))
        while True:
            sim, segments, _ = synthesize_similarity(rng, cfg)
            if bool(segments) == bool(positive):
                break
        mats.append(sim)
        labels.append(positive)
    return mats, labels


def test_filter_learns_to_separate_copy_matrices():
    torch.set_num_threads(1)
    train_m, train_y = _matrices(120, 0)
    test_m, test_y = _matrices(60, 1)
    pf = PairFilter(PairFilterConfig(size=16, width=8, steps=80, batch_size=32))
    losses = pf.fit(train_m, train_y)
    assert np.mean(losses[-20:]) < np.mean(losses[:20])
    p = pf.predict(test_m)
    assert p.shape == (60,) and ((p >= 0) & (p <= 1)).all()
    y = np.array(test_y)
    # ROC AUC: probability that a copy matrix outranks a non-copy one
    auc = (p[y == 1][:, None] > p[y == 0][None, :]).mean()
    assert auc > 0.85, auc
    with pytest.raises(ValueError, match="both classes"):
        PairFilter(PairFilterConfig()).fit(train_m[:2], [1, 1])
    with pytest.raises(RuntimeError, match="fit"):
        PairFilter(PairFilterConfig()).predict(test_m[:1])


def test_apply_filter_rescales_and_drops():
    preds = [Match("Q1", "R1", 0, 5, 0, 5, 0.8), Match("Q2", "R1", 0, 5, 0, 5, 0.9)]
    out = apply_filter(preds, {("Q1", "R1"): 0.5, ("Q2", "R1"): 0.1})
    assert [m.score for m in out] == pytest.approx([0.4, 0.09])
    assert out[0].query_start == 0 and out[0].ref_end == 5
    out = apply_filter(preds, {("Q1", "R1"): 0.5, ("Q2", "R1"): 0.1}, min_prob=0.2)
    assert [m.query_id for m in out] == ["Q1"]
    with pytest.raises(KeyError, match="no probability"):
        apply_filter(preds, {("Q1", "R1"): 0.5})


def test_training_pairs_label_ground_truth():
    class Bench:
        queries = {"Q1": None, "Q2": None}
        refs = {"R1": None, "R2": None, "R3": None}
        ground_truth = [Match("Q1", "R3", 0, 2, 0, 2)]

    e = np.eye(3, dtype=np.float32)
    desc = {"Q1": e[[0]], "Q2": e[[1]], "R1": e[[0]], "R2": e[[1]], "R3": e[[2]]}
    pairs = dict(training_pairs(Bench, desc, per_query=1))
    # top-1 by similarity (Q1-R1, Q2-R2) plus the GT pair, which retrieval missed
    assert pairs == {("Q1", "R1"): 0, ("Q1", "R3"): 1, ("Q2", "R2"): 0}


def test_filter_is_independent_of_the_global_rng():
    """Same config -> same trained filter, whatever the process drew from torch before."""
    train_m, train_y = _matrices(40, 0)
    cfg = PairFilterConfig(size=16, width=8, steps=10, batch_size=16)
    preds = []
    for noise in (0, 7):
        torch.manual_seed(noise)
        torch.rand(noise + 1)
        pf = PairFilter(cfg)
        pf.fit(train_m, train_y)
        preds.append(pf.predict(train_m))
    np.testing.assert_array_equal(preds[0], preds[1])
