"""t(n) curve and the automatic tree budget."""

from __future__ import annotations

from jakiro.latency import auto_total_token, latency_curve


def test_auto_total_token_picks_largest_within_slack():
    curve = {1: 50.0, 8: 70.0, 16: 79.0, 32: 120.0, 64: 170.0}
    assert auto_total_token(curve, slack=0.6) == 16
    assert auto_total_token({1: 10.0, 60: 10.5}, slack=0.1) == 60  # flat (GPU-like) curve


def test_latency_curve_measures_each_n(tiny_target):
    curve = latency_curve(tiny_target, [1, 4], cache_len=16, reps=2)
    assert set(curve) == {1, 4} and all(v > 0 for v in curve.values())
