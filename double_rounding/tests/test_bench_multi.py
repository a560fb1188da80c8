"""Main study bookkeeping: equal optimizer steps per bit-width, pairing by seed, t intervals."""

import importlib.util
from pathlib import Path

import pytest
import torch
from scipy import stats
from torch.utils.data import TensorDataset

from double_rounding.study import pretrain_fp, run_arm

SPEC = importlib.util.spec_from_file_location(
    "bench_multi", Path(__file__).resolve().parents[1] / "bench" / "bench_multi.py")
bench_multi = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench_multi)


def test_equal_steps_arms_get_the_one_shot_models_update_count():
    arms = bench_multi.arms()
    main = arms[bench_multi.MAIN]
    for b in bench_multi.BITS:
        steps = arms[f"lsq_w{b}_equal_steps"]
        # one-shot: `steps` batches x 4 optimizer steps; separate: factor x steps batches x 1
        assert steps["factor"] * len(steps["bits"]) == main["factor"] * len(main["bits"])
        epochs = arms[f"lsq_w{b}_equal_epochs"]
        assert epochs["factor"] == main["factor"] and epochs["bits"] == [b]


def test_run_arm_counts_optimizer_steps_and_records_a_curve(tmp_path):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(96, 1, 32, 32, generator=g), torch.arange(96) % 10
    train, val = TensorDataset(x[:64], y[:64]), TensorDataset(x[64:], y[64:])
    arch = dict(arch="resnet20", num_classes=10, in_channels=1, width=0.25, blocks_per_stage=1)
    fp = tmp_path / "fp.safetensors"
    pretrain_fp(arch, train, val, 1, 16, 1e-3, 0, fp)
    _, joint = run_arm(arch, fp, train, val, [8, 2], 0, 16, 1e-3, 0, steps=6, val=val,
                       eval_every=3)  # 6 batches: crosses the 4-batch epoch boundary
    _, single = run_arm(arch, fp, train, val, [2], 0, 16, 1e-3, 0, alrs="none", steps=12)
    assert joint["steps"] == 6 and joint["optimizer_steps"] == 12 == single["optimizer_steps"]
    assert [p["step"] for p in joint["val_curve"]] == [3, 6]
    assert set(joint["val_curve"][0]) == {"step", "8", "2"}
    assert joint["alrs"]["calls"] == 12 and joint["alrs"]["mode"] == "relative"


def test_paired_interval_matches_scipy():
    diffs = [0.3, -0.4, 1.1, 0.2]
    out = bench_multi.paired(diffs)
    lo, hi = stats.t.interval(0.95, len(diffs) - 1, loc=sum(diffs) / 4, scale=stats.sem(diffs))
    assert out["ci95"] == pytest.approx([lo, hi], abs=1e-3)
    assert bench_multi.paired([0.5])["ci95"] is None


def test_compare_pairs_by_seed_and_skips_unpaired_seeds():
    def acc(v):
        return {"accuracy": {str(b): v for b in bench_multi.BITS}}

    runs = {0: {"a": acc(80.0), "base_8": acc(79.0), "base_6": acc(79.0), "base_4": acc(79.0),
                "base_2": acc(79.0)},
            1: {"a": acc(70.0), "base_8": acc(72.0), "base_6": acc(72.0), "base_4": acc(72.0),
                "base_2": acc(72.0)},
            2: {"a": acc(99.0)}}  # no baseline in this seed: not paired
    out = bench_multi.compare(runs, "a", lambda b: f"base_{b}")
    assert out["8"]["per_seed"] == [1.0, -2.0] and out["8"]["n"] == 2
