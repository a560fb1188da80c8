"""Benchmark building blocks on generated data: FP32 start, arms, SubNet search + evaluation."""

import numpy as np
import torch

from double_rounding.data import load_dataset
from double_rounding.layers import SwitchableBatchNorm2d
from double_rounding.search import candidate_subnets
from double_rounding.study import (
    evaluate_subnet,
    hasb_sampler_fn,
    pretrain_fp,
    recalibrate_bn,
    run_arm,
    search_problem,
)

ARCH = dict(arch="resnet20", num_classes=10, in_channels=1, width=0.25, blocks_per_stage=1)


def test_fp32_start_arm_and_subnets(tmp_path):
    train = load_dataset("synthetic", "train", limit=128)
    test = load_dataset("synthetic", "test", limit=64)
    fp = tmp_path / "fp.safetensors"
    fp32 = pretrain_fp(ARCH, train, test, 1, 32, 2e-3, 0, fp)
    assert fp.is_file() and 0 <= fp32["accuracy"] <= 100
    holder = {}

    def make(model):
        holder["s"] = hasb_sampler_fn(train, [4, 3, 2], 0.5, 1, 0, False, images=32)(model)
        return holder["s"]

    model, result = run_arm(ARCH, fp, train, test, [4, 3, 2], 1, 32, 1e-3, 0, alrs="none",
                            sampler_fn=make, transitional_bn=True)
    assert set(result["accuracy"]) == {"4", "3", "2"}
    traces = holder["s"].per_param_traces
    problem = search_problem(model, traces, [4, 3, 2], train.tensors[0][:1])
    # fewer bits never quantize with less error (layer-wise objective grows as bits drop)
    assert np.all(np.diff(problem.cost, axis=1) >= -1e-12)
    assert np.all(problem.macs > 0)
    subnets = candidate_subnets(problem, [3.0])
    assert all(abs(s["avg_bits"] - 3.0) < 1e-9 for s in subnets)
    acc = evaluate_subnet(model, subnets[0]["bits"], test, train.tensors[0][:32])
    assert 0 <= acc <= 100


def test_recalibrate_bn_touches_active_bn_only(tiny_model):
    model, x = tiny_model
    from double_rounding.convert import set_precision

    set_precision(model, 4)
    bns = [m for m in model.modules() if isinstance(m, SwitchableBatchNorm2d)]
    before = [bn.bns["8"].running_mean.clone() for bn in bns]
    recalibrate_bn(model, x)
    assert all(torch.equal(bn.bns["8"].running_mean, b) for bn, b in zip(bns, before, strict=True))
    assert all(bn.bns["4"].momentum == 0.1 for bn in bns)  # momentum restored
    assert not model.training
