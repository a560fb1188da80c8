"""The statistics behind the ablation report (bench/common.py)."""

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from common import ARMS, mean_se, paired_interval  # noqa: E402


def test_mean_se():
    mean, se = mean_se([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and se == pytest.approx(math.sqrt(5 / 3 / 4))
    assert math.isnan(mean_se([1.0])[1])


def test_paired_interval_uses_differences_and_t_quantile():
    a, b = [0.80, 0.82, 0.79, 0.85, 0.81], [0.78, 0.80, 0.78, 0.82, 0.80]
    out = paired_interval(a, b)
    diffs = [0.02, 0.02, 0.01, 0.03, 0.01]
    assert out["mean"] == pytest.approx(sum(diffs) / 5)
    half = 2.776 * mean_se(diffs)[1]  # t(0.975, df=4)
    assert out["ci95"] == pytest.approx([out["mean"] - half, out["mean"] + half])
    # a constant shift has zero spread: the interval collapses onto it
    same = paired_interval([0.5, 0.6, 0.7], [0.4, 0.5, 0.6])
    assert same["ci95"] == pytest.approx([0.1, 0.1])
    with pytest.raises(ValueError):
        paired_interval([0.1, 0.2], [0.1])


def test_arms_differ_only_in_strategy_switches():
    allowed = ("model.reparam=", "loss.kd_weight=", "ema.enabled=", "mix.")
    assert all(o.startswith(allowed) for arm in ARMS.values() for o in arm)
    assert ARMS["full"] == ["model.reparam=true", "loss.kd_weight=1.0", "ema.enabled=true"]
