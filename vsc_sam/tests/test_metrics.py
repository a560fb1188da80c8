"""Segment µAP and uAP against the values measured with the official vsc/metrics.py (vision.md
§A3.3), hand-computed cases, and invariants (permutation, monotonicity, splitting)."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vsc_sam.formats import CandidatePair, FormatError, Match
from vsc_sam.metrics import (
    bootstrap_micro_ap,
    boundary_errors,
    candidate_micro_ap,
    intersection_length,
    pairwise_micro_ap,
    segment_micro_ap,
    segment_pr_curve,
)


def box(q, r, qs, qe, rs, re, score=1.0):
    return Match(q, r, qs, qe, rs, re, score)


def q1r2(*boxes):
    """Boxes (qs, qe, rs, re[, score]) on pair Q1-R2."""
    return [box("Q1", "R2", *b) for b in boxes]


GT = q1r2((4, 14, 10, 18))
G10 = q1r2((0, 10, 0, 10))
PIECES = [(4, 8, 10, 14, 1), (8, 14, 16, 18, 2)]

# fmt: off
OFFICIAL_CASES = [  # vision.md §A3.3, measured with the official vsc/metrics.py
    ("perfect", GT, q1r2((4, 14, 10, 18, 1)), 1.0),
    ("split", GT, q1r2((4, 8, 10, 14, 1), (8, 14, 14, 18, 2)), 1.0),
    ("calibrated", GT, q1r2(*PIECES, (0, 30, 5, 25, 0)), 0.914946),
    ("miscalibrated", GT, q1r2(*PIECES, (0, 30, 5, 25, 3)), 0.365148),
    ("vcsl_fig4f", q1r2((4, 14, 10, 18), (20, 28, 21, 29)),
     q1r2((4, 14, 21, 29, 1), (20, 28, 10, 18, 1)), 0.0),
    ("wrong_pairs_first", GT,
     [box("Q2", "R2", 4, 14, 10, 18, 3), box("Q1", "R1", 4, 14, 10, 18, 2)]
     + q1r2((4, 14, 10, 18, 1)), 1 / 3),
    ("half_coverage", G10, q1r2((0, 5, 0, 5, 1)), 0.5),
    ("double_length", G10, q1r2((0, 20, 0, 20, 1)), 0.5),
    ("shifted_2s", G10, q1r2((2, 12, 2, 12, 1)), 0.64),
    ("fp_above_tp", G10, [box("Q9", "R2", 0, 10, 0, 10, 0.5)] + q1r2((0, 10, 0, 10, 0.4)), 0.5),
    ("fp_tp_tied", G10,
     [box("Q9", "R2", 0, 10, 0, 10, 0.5)] + q1r2((0, 10, 0, 10, 0.5)), 0.5),
    ("one_of_two_pairs", G10 + [box("Q2", "R2", 0, 10, 0, 10)], q1r2((0, 10, 0, 10, 1)), 0.5),
    ("disjoint", G10, q1r2((20, 30, 20, 30, 1)), 0.0),
]
# fmt: on


@pytest.mark.parametrize(
    "name,gts,preds,expected", OFFICIAL_CASES, ids=[c[0] for c in OFFICIAL_CASES]
)
def test_official_reference_cases(name, gts, preds, expected):
    assert segment_micro_ap(gts, preds) == pytest.approx(expected, abs=1e-6)


def test_split_first_pr_point():
    curve = segment_pr_curve(GT, OFFICIAL_CASES[1][2])
    assert curve.recall[0] == pytest.approx(0.5477, abs=1e-4)


def test_hand_computed_two_axes():
    # GT q=[0,10) r=[0,20) (speed 2); pred q=[0,5) r=[0,20): Rq=.5, Rr=1, Pq=Pr=1 -> AP=sqrt(.5).
    gts = [box("Q1", "R1", 0, 10, 0, 20)]
    assert segment_micro_ap(gts, [box("Q1", "R1", 0, 5, 0, 20)]) == pytest.approx(math.sqrt(0.5))
    # Adding a second, lower-scored box on a wrong pair only lowers precision after full recall.
    preds = [box("Q1", "R1", 0, 10, 0, 20, 2), box("Q1", "R9", 0, 10, 0, 20, 1)]
    assert segment_micro_ap(gts, preds) == pytest.approx(1.0)


def test_interval_helper_official_values():
    assert intersection_length([(2, 5), (7, 8)], [(1, 3), (4, 7)]) == pytest.approx(2)
    assert intersection_length([(2, 5), (7, 8)], [(-1, 0), (3.5, 12)]) == pytest.approx(2.5)


@pytest.mark.parametrize(
    "preds,expected",
    [
        ([("Q1", "R10", 8), ("Q2", "R11", 4), ("Q99", "R99", 2)], 1.0),
        ([("Q1", "R10", 8), ("Q2", "R11", 4), ("Q99", "R99", 5)], 0.833333),
        ([("Q1", "R10", 3), ("Q2", "R10", 2), ("Q99", "R99", 1)], 0.5),
        ([("Q1", "R10", 2), ("Q2", "R10", 3), ("Q99", "R99", 1)], 0.25),
    ],
)
def test_candidate_uap_official_values(preds, expected):
    gt = [("Q1", "R10"), ("Q2", "R11")]
    assert candidate_micro_ap(gt, [CandidatePair(*p) for p in preds]) == pytest.approx(
        expected, abs=1e-6
    )


def test_uap_rejects_duplicates_and_nan():
    with pytest.raises(FormatError, match="duplicate"):
        candidate_micro_ap(
            [("Q1", "R1")], [CandidatePair("Q1", "R1", 1), CandidatePair("Q1", "R1", 2)]
        )
    with pytest.raises(FormatError, match="NaN"):
        candidate_micro_ap([("Q1", "R1")], [CandidatePair("Q1", "R1", float("nan"))])


def test_nan_prediction_rejected():
    with pytest.raises(FormatError, match="NaN"):
        segment_micro_ap(G10, [box("Q1", "R2", 0, float("nan"), 0, 10)])


box_strategy = st.tuples(
    st.sampled_from(["Q1", "Q2"]),
    st.sampled_from(["R1", "R2"]),
    st.integers(0, 20),
    st.integers(1, 10),
    st.integers(0, 20),
    st.integers(1, 10),
    st.sampled_from([0.1, 0.5, 0.9]),
).map(lambda t: box(t[0], t[1], t[2], t[2] + t[3], t[4], t[4] + t[5], t[6]))
GTS = [box("Q1", "R1", 2, 12, 3, 13), box("Q2", "R2", 5, 9, 0, 8), box("Q1", "R2", 15, 25, 15, 20)]


@settings(max_examples=25, deadline=None)
@given(st.lists(box_strategy, min_size=1, max_size=8), st.randoms())
def test_permutation_invariance(preds, rnd):
    shuffled = list(preds)
    rnd.shuffle(shuffled)
    assert segment_micro_ap(GTS, shuffled) == pytest.approx(segment_micro_ap(GTS, preds), abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.lists(box_strategy, min_size=1, max_size=6), box_strategy)
def test_false_length_below_all_cannot_raise(preds, extra):
    # A lowest-scored box on a pair without GT only adds false length.
    low = box(
        "Q7",
        extra.ref_id,
        extra.query_start,
        extra.query_end,
        extra.ref_start,
        extra.ref_end,
        min(p.score for p in preds) - 1,
    )
    assert segment_micro_ap(GTS, preds + [low]) <= segment_micro_ap(GTS, preds) + 1e-12


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 9), st.integers(0, 2))
def test_perfect_predictions_score_one_regardless_of_split(cut, score_order):
    g = GTS[0]
    frac = cut / 10
    qm, rm = g.query_start + frac * 10, g.ref_start + frac * 10
    scores = [(1, 2), (2, 1), (1, 1)][score_order]
    preds = [
        box("Q1", "R1", g.query_start, qm, g.ref_start, rm, scores[0]),
        box("Q1", "R1", qm, g.query_end, rm, g.ref_end, scores[1]),
    ]
    preds += [
        box(m.query_id, m.ref_id, m.query_start, m.query_end, m.ref_start, m.ref_end, 1.5)
        for m in GTS[1:]
    ]
    assert segment_micro_ap(GTS, preds) == pytest.approx(1.0)


def test_pairwise_uap_and_bootstrap_and_boundaries():
    preds = [box("Q1", "R2", 1, 11, 1, 11, 0.9), box("Q1", "R3", 0, 5, 0, 5, 0.95)]
    assert pairwise_micro_ap(G10, preds) == pytest.approx(0.5)
    lo, hi = bootstrap_micro_ap(G10, preds, ["Q1", "Q2"], n_resamples=50, seed=0)
    assert 0.0 <= lo <= hi <= 1.0
    b = boundary_errors(G10, preds)
    assert b["found"] == 1 and b["mean_abs_start_s"] == pytest.approx(1.0)
    assert b["within_1s"] == 1.0
