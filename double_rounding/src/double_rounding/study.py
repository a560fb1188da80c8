"""Building blocks of the demo and benchmarks: FP32 pre-training, one training arm, BN
re-calibration and SubNet evaluation, all on in-memory tensors so that arms are comparable
(same data order, same seed, same epochs)."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from double_rounding.alrs import ALRS
from double_rounding.convert import calibrate, quant_layers, set_layer_bits, set_precision
from double_rounding.hasb import HASBSampler, model_traces
from double_rounding.layers import SwitchableBatchNorm2d
from double_rounding.models import build_float, load_model
from double_rounding.search import SearchProblem, layer_macs
from double_rounding.trainer import MultiPrecisionTrainer, evaluate


def hardware(threads: int) -> str:
    return (f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch "
            f"thread(s) (set {threads}), 2-core CPU shared with other jobs during measurement")


def code_version() -> str:
    """git commit of the checkout (+ "-dirty" when files differ from it), or "unknown"."""
    import subprocess

    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                              text=True, timeout=20).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", str(here.parents[1])],
                               cwd=here, capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head + ("-dirty" if dirty.strip() else "")) if head else "unknown"


def batches(ds: TensorDataset, batch_size: int, seed: int, epoch: int) -> DataLoader:
    g = torch.Generator().manual_seed(seed * 1000 + epoch)
    return DataLoader(ds, batch_size=batch_size, shuffle=True, generator=g, drop_last=True)


def pretrain_fp(arch: dict, train: TensorDataset, test: TensorDataset, epochs: int,
                batch_size: int, lr: float, seed: int, path: Path) -> dict:
    """Train the float network (the paper starts every quantized model from FP32 weights);
    returns its test accuracy and training time."""
    torch.manual_seed(seed)
    model = build_float(**arch)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * (len(train) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    start = time.time()
    for epoch in range(epochs):
        model.train()
        for x, y in batches(train, batch_size, seed, epoch):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
            sched.step()
    seconds = time.time() - start
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in DataLoader(test, batch_size=500):
            correct += (model(x).argmax(1) == y).sum().item()
    return {"accuracy": 100.0 * correct / len(test), "train_seconds": round(seconds, 1)}


# the network of the small ablations (bench_ties, bench_mixed): ResNet-20 width 0.5, one block
# per stage ("ResNet-8" depth), FP32 start trained 10 epochs on their 1000 training images
SMALL_ARCH = dict(arch="resnet20", num_classes=10, in_channels=1, width=0.5, blocks_per_stage=1)


def small_fp32(cache: Path, train: TensorDataset, test: TensorDataset, seed: int) -> Path:
    """The cached FP32 start of the small ablations, trained once when missing."""
    path = cache / "fp32.safetensors"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        write_result(cache / "fp32.json",
                     pretrain_fp(SMALL_ARCH, train, test, 10, 64, 2e-3, seed, path))
    return path


def run_arm(arch: dict, pretrained: Path, train: TensorDataset, test: TensorDataset,
            bits: list[int], epochs: int, batch_size: int, lr: float, seed: int,
            scheme: str = "double_rounding", rule: str = "half_up", alrs: str = "relative",
            kd_weight: float = 0.0, sampler_fn=None, transitional_bn: bool = False,
            steps: int | None = None, val: TensorDataset | None = None,
            eval_every: int = 0) -> tuple[nn.Module, dict]:
    """QAT from the FP32 weights; returns the model and {accuracy per bit, seconds, ...}.

    `steps` (batches) overrides `epochs` and may end mid-epoch; with `val` and `eval_every`
    the validation accuracy per bit-width is recorded every `eval_every` batches (the curve).
    """
    torch.manual_seed(seed)
    model = load_model(**arch, bits=bits, pretrained=str(pretrained), scheme=scheme, rule=rule,
                       transitional_bn=transitional_bn)
    calibrate(model, train.tensors[0][:256], bits)
    sampler = sampler_fn(model) if sampler_fn else None
    per_epoch = len(train) // batch_size
    total = steps if steps is not None else epochs * per_epoch
    schedule = ALRS(alrs, high=max(bits))
    trainer = MultiPrecisionTrainer(model, bits, lr, 5e-5, schedule, total, kd_weight, sampler)
    order = sorted(bits, reverse=True)
    curve: list[dict] = []
    start = time.time()
    eval_seconds = 0.0
    while trainer.step_count < total:
        trainer.epoch = trainer.step_count // per_epoch
        for x, y in batches(train, batch_size, seed, trainer.epoch):
            trainer.train_step(x, y)
            if val is not None and eval_every and (trainer.step_count % eval_every == 0
                                                   or trainer.step_count == total):
                tick = time.time()
                loader = DataLoader(val, batch_size=500)
                curve.append({"step": trainer.step_count,
                              **{str(b): evaluate(model, loader, b) for b in order}})
                eval_seconds += time.time() - tick
            if trainer.step_count >= total:
                break
    seconds = time.time() - start - eval_seconds
    loader = DataLoader(test, batch_size=500)
    acc = {str(b): evaluate(model, loader, b) for b in order}
    return model, {"accuracy": acc, "train_seconds": round(seconds, 1), "steps": total,
                   "optimizer_steps": total * len(bits), "val_curve": curve,
                   "alrs_clamp_events": schedule.clamp_events, "alrs_calls": schedule.calls,
                   "alrs": schedule.summary()}


@torch.no_grad()
def recalibrate_bn(model: nn.Module, images: torch.Tensor, batch_size: int = 128) -> None:
    """Re-estimate the active BN statistics of the current SubNet (cumulative average)."""
    bns = [m.bns[m.key] for m in model.modules() if isinstance(m, SwitchableBatchNorm2d)]
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    for i in range(0, len(images), batch_size):
        model(images[i:i + batch_size])
    for bn, m in zip(bns, saved, strict=True):
        bn.momentum = m
    model.eval()


def hasb_sampler_fn(train: TensorDataset, bits: list[int], sigma0: float, epochs: int,
                    seed: int, uniform: bool, images: int = 256, samples: int = 8):
    """Factory: Hessian traces of the (float) model, then the roulette sampler."""
    def make(model: nn.Module) -> HASBSampler:
        layers = [layer for _, layer in quant_layers(model)]
        set_precision(model, None)
        sub = TensorDataset(train.tensors[0][:images], train.tensors[1][:images])
        traces = model_traces(model, layers, DataLoader(sub, batch_size=64), samples, seed)
        per_param = [t / layer.weight.numel() for t, layer in zip(traces, layers, strict=True)]
        sampler = HASBSampler(bits, per_param, sigma0, epochs, seed, uniform)
        sampler.per_param_traces = per_param
        return sampler
    return make


@torch.no_grad()
def search_problem(model: nn.Module, per_param_traces: list[float], bits: list[int],
                   example: torch.Tensor) -> SearchProblem:
    """Objective t_l * ||Q_b(W_l) - W_l||^2 from the trained weights; params and MACs per layer.

    Hutchinson traces of a non-convex network can come out negative for a layer (seen on short
    runs); a negative weight would reward quantization error, so traces are floored at 1e-3 of
    the largest one (our choice) and the quantization error then decides between bit-widths.
    """
    layers = [layer for _, layer in quant_layers(model)]
    t = np.asarray(per_param_traces, dtype=float)
    t = np.maximum(t, 1e-3 * max(float(t.max()), 1e-12))
    cost = np.array([[tl * (layer.wq(layer.weight, b) - layer.weight).pow(2).sum().item()
                      for b in bits] for tl, layer in zip(t, layers, strict=True)])
    set_precision(model, None)
    macs = layer_macs(model, layers, example)
    return SearchProblem(bits, cost, np.array([layer.weight.numel() for layer in layers]),
                         np.array(macs))


def evaluate_subnet(model: nn.Module, layer_bits: list[int], test: TensorDataset,
                    recal_images: torch.Tensor | None) -> float:
    set_layer_bits(model, layer_bits)
    if recal_images is not None:
        recalibrate_bn(model, recal_images)
    return evaluate(model, DataLoader(test, batch_size=500), layer_bits)


def write_result(path: Path, result: dict) -> None:
    """Atomic JSON write (temporary name, then rename)."""
    import json
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, path)


def add_scale_args(parser, train: int = 2000, test: int = 1000, epochs: int = 2) -> None:
    """The run-size options every demo / benchmark script shares."""
    parser.add_argument("--train", type=int, default=train, help="training images")
    parser.add_argument("--test", type=int, default=test, help="test images")
    parser.add_argument("--epochs", type=int, default=epochs, help="QAT epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (recorded)")
