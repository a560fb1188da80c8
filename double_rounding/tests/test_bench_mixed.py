"""bench_mixed labelling: "uniform wb" is the SubNet with every layer at b bits, never the ILP
pick that happens to have the same average bit-width (the mislabelled table of issue 13)."""

import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "bench_mixed", Path(__file__).resolve().parents[1] / "bench" / "bench_mixed.py")
bench_mixed = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench_mixed)


def subnet(bits, accuracy, objective):
    return {"bits": bits, "accuracy": accuracy, "objective": objective,
            "avg_bits": sum(bits) / len(bits)}


def subnets():
    # the all-3-bit net has the higher objective but the better accuracy, as in the stored run
    return [subnet([4, 4, 2, 2], 70.8, 0.13), subnet([4, 3, 3, 2], 74.0, 0.17),
            subnet([3, 3, 3, 3], 73.2, 0.31), subnet([4, 4, 4, 4], 73.0, 0.05),
            subnet([2, 2, 2, 2], 67.8, 0.84), subnet([3, 3, 2, 2], 69.0, 0.40),
            subnet([4, 4, 3, 3], 72.0, 0.08)]


def test_uniform_is_every_layer_the_same_bits():
    summary = bench_mixed.summarize(subnets())
    assert summary["uniform"] == {"4": 73.0, "3": 73.2, "2": 67.8}
    assert summary["ilp"]["3.0"] == {"bits": [4, 4, 2, 2], "accuracy": 70.8}
    assert summary["ilp_minus_uniform_at_3_bits"] == pytest.approx(70.8 - 73.2)
    assert summary["best_mixed_at_3_bits"] == 74.0


def test_ilp_pick_never_returns_a_uniform_net():
    only_uniform = [subnet([3, 3, 3, 3], 73.2, 0.01)]
    with pytest.raises(ValueError, match="no mixed-precision SubNet at 3.0"):
        bench_mixed.ilp_pick(only_uniform, 3.0)
    with pytest.raises(ValueError, match="one uniform 3-bit"):
        bench_mixed.uniform_subnet(subnets()[:2], 3)


def test_stored_results_label_uniform_correctly():
    """The committed results file: its uniform columns are the all-b-bit SubNets."""
    import json

    path = Path(__file__).resolve().parents[1] / "results" / "bench_mixed.json"
    result = json.loads(path.read_text())
    for arm, r in result["arms"].items():
        for b, acc in result["summary"][arm]["uniform"].items():
            (match,) = [s for s in r["subnets"] if s["bits"] == [int(b)] * len(s["bits"])]
            assert match["accuracy"] == acc, (arm, b)
