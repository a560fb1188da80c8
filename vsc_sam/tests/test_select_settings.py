"""bench/select_settings.py: one rule for TN and SAM-lite candidates, scored on validation."""

import importlib.util
import json

import pytest
from conftest import ROOT
from vsc_sam.formats import Match
from vsc_sam.metrics import bootstrap_difference

spec = importlib.util.spec_from_file_location("select", ROOT / "bench" / "select_settings.py")
select_settings = importlib.util.module_from_spec(spec)
spec.loader.exec_module(select_settings)


def result(scores: dict[str, dict[str, float]]) -> dict:
    kinds = list(next(iter(scores.values())))
    return {
        "paper": "p",
        "seed": 2,
        "command": "python -m vsc_sam.eval ...",
        "config_hash": "abc",
        "config": {
            "tn": {"top_k": 5},
            "eval": {"checkpoint": "runs/s0", "extra_sam": {"s1": "runs/s1"}},
        },
        "tn_grid": {"tn_grid0": {"top_k": 2}, "tn_grid1": {"top_k": 3}},
        "input_checkpoints": {"sam": "f0", "sam_s1": "f1"},
        "benchmark": {"test": {"seed": 2}},
        "descriptors": {
            k: {"localisers": {n: {"segment_micro_ap": v[k]} for n, v in scores.items()}}
            for k in kinds
        },
    }


def test_rule_is_the_best_mean_over_descriptors_per_family(tmp_path):
    scores = {
        "tn": {"a": 0.5, "b": 0.5},
        "tn_grid0": {"a": 0.9, "b": 0.2},  # mean 0.55
        "tn_grid1": {"a": 0.6, "b": 0.6},  # mean 0.6: chosen although not best on "a"
        "dp": {"a": 0.99, "b": 0.99},  # not a candidate of either family
        "sam_post": {"a": 0.99, "b": 0.99},
        "sam": {"a": 0.7, "b": 0.7},
        "sam_s1": {"a": 0.8, "b": 0.6},  # tie with sam: the first candidate wins
    }
    path = tmp_path / "val.json"
    path.write_text(json.dumps(result(scores)))
    out = select_settings.payload(json.loads(path.read_text()), path)
    assert out["chosen"]["tn"] == {"localiser": "tn_grid1", "settings": {"top_k": 3}}
    assert out["chosen"]["sam"]["localiser"] == "sam"
    assert out["chosen"]["sam"]["settings"] == {"checkpoint": "runs/s0", "fingerprint": "f0"}
    assert set(out["candidates"]["tn"]) == {"tn", "tn_grid0", "tn_grid1"}
    assert set(out["candidates"]["sam"]) == {"sam", "sam_s1"}
    assert out["value"] == pytest.approx(0.7) and out["baseline_value"] == pytest.approx(0.6)
    assert out["input"]["config_hash"] == "abc" and out["command"]


def test_bootstrap_difference_is_paired():
    gts = [Match(f"Q{i}", "R1", 0, 10, 0, 10) for i in range(6)]
    good = [Match(f"Q{i}", "R1", 0, 10, 0, 10, 1.0) for i in range(6)]
    half = [Match(f"Q{i}", "R1", 0, 5, 0, 5, 1.0) for i in range(6)]
    same = bootstrap_difference(gts, good, good, [f"Q{i}" for i in range(6)], 50, 0)
    assert same["difference"] == 0 and same["se"] == 0 and same["ci95"] == [0, 0]
    diff = bootstrap_difference(gts, good, half, [f"Q{i}" for i in range(6)], 50, 0)
    # every resample has the same two scores: a paired difference has no spread
    assert diff["difference"] == pytest.approx(0.5) and diff["se"] == pytest.approx(
        0
    )  # µAP 1 vs 0.5
