import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nauf_return.errors import ConfigError
from nauf_return.metrics import (
    bootstrap_average_ci,
    official_scores,
    unlearning_scores,
)

acc = st.floats(0.01, 1.0)


def test_hand_computed_case():
    # privacy.md A.4 invariant 1.
    s = unlearning_scores(0.8565, 0.05, 0.8608, 0.70)
    assert s.forget == pytest.approx(0.94162, abs=1e-4)
    assert s.retain == pytest.approx(0.81320, abs=1e-4)
    assert s.average == pytest.approx(0.87741, abs=1e-4)


@given(acc, acc)
def test_identity_model_scores_half(a_f, a_r):
    s = unlearning_scores(a_f, a_f, a_r, a_r)
    assert (s.forget, s.retain, s.average) == (0.0, 1.0, 0.5)


@given(acc, acc)
def test_refuse_everything_scores_half(a_f, a_r):
    s = unlearning_scores(a_f, 0.0, a_r, 0.0)
    assert (s.forget, s.retain, s.average) == (1.0, 0.0, 0.5)


@given(acc, acc)
def test_perfect_unlearning_scores_one(a_f, a_r):
    assert unlearning_scores(a_f, 0.0, a_r, a_r).average == 1.0


def test_retain_denominator_bug_is_fixed():
    # Official code divides retain accuracy by the *forget* pre-accuracy.
    fixed = unlearning_scores(0.8565, 0.05, 0.8608, 0.70, clip=False)
    official, _ = official_scores(0.8565, 0.05, 0.8608, 0.70)
    assert fixed.retain == pytest.approx(0.70 / 0.8608)
    assert official.retain == pytest.approx(0.70 / 0.8565)
    assert official.retain > fixed.retain


def test_clipping_is_applied_before_averaging():
    # Unlearned model more accurate than the original on forget: FS = -0.2 before clipping.
    official, official_avg = official_scores(0.5, 0.6, 0.5, 0.4)
    assert official.forget == 0.0 and official.retain == pytest.approx(0.8)
    assert official_avg == pytest.approx(0.3)  # averages the unclipped FS
    fixed = unlearning_scores(0.5, 0.6, 0.5, 0.4)
    assert fixed.average == pytest.approx((fixed.forget + fixed.retain) / 2)
    assert fixed.average == pytest.approx(0.4)


@given(acc, st.floats(0, 1), acc, st.floats(0, 1))
def test_clipped_scores_are_bounded(a, b, c, d):
    s = unlearning_scores(a, b, c, d)
    assert 0.0 <= s.forget <= 1.0 and 0.0 <= s.retain <= 1.0 and 0.0 <= s.average <= 1.0


def test_invalid_accuracies_raise():
    with pytest.raises(ConfigError, match="acc_u_forget"):
        unlearning_scores(0.5, 1.5, 0.5, 0.5)
    with pytest.raises(ConfigError, match="undefined"):
        unlearning_scores(0.0, 0.0, 0.5, 0.5)


def test_bootstrap_ci_brackets_point_estimate():
    rng = np.random.default_rng(0)
    f_o, r_o = rng.uniform(0.8, 1, 30), rng.uniform(0.8, 1, 200)
    f_u, r_u = f_o * 0.2, r_o * 0.9
    point = unlearning_scores(f_o.mean(), f_u.mean(), r_o.mean(), r_u.mean()).average
    lo, hi = bootstrap_average_ci(f_o, f_u, r_o, r_u, n_boot=300)
    assert lo <= point <= hi and hi - lo < 0.1 and not math.isnan(lo)
