"""Mixed-precision study, {4,3,2}: a SuperNet trained with Hessian-aware stochastic bit-switching
(HASB) vs one trained with uniform random bit sampling (Bit-Mixer style), both followed by the same
ILP SubNet search; accuracy vs average bits and vs BitOPs, Pareto sets, PNG plot.

Both SuperNets start from the FP32 model cached by bench_multi.py (--part separate), use
transitional BN, one optimizer step per pass and no ALRS (paper Algorithm A.3). Each SubNet's BN
statistics are re-calibrated on 128 training images before evaluation.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import torch

from double_rounding.data import load_dataset
from double_rounding.search import candidate_subnets, pareto_front
from double_rounding.study import (
    add_scale_args,
    evaluate_subnet,
    hardware,
    hasb_sampler_fn,
    run_arm,
    search_problem,
    write_result,
)

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "runs" / "bench"
BITS = [4, 3, 2]
ARCH = dict(arch="resnet20", num_classes=10, in_channels=1, width=0.5, blocks_per_stage=1)
TARGETS = [2.5, 3.0, 3.5]


def run_supernet(args, uniform: bool) -> None:
    train = load_dataset("fashion_mnist", "train", limit=args.train, seed=args.seed)
    test = load_dataset("fashion_mnist", "test", limit=args.test, seed=args.seed)
    fp = CACHE / "fp32.safetensors"
    if not fp.is_file():
        raise FileNotFoundError(f"{fp} missing: run `bench_multi.py --part separate` first")
    holder = {}

    def make(model):
        holder["sampler"] = hasb_sampler_fn(train, BITS, args.sigma0, args.epochs, args.seed,
                                            uniform, images=128, samples=4)(model)
        return holder["sampler"]

    model, result = run_arm(ARCH, fp, train, test, BITS, args.epochs, 64, 1e-3, args.seed,
                            rule=args.rule, alrs="none", sampler_fn=make, transitional_bn=True)
    sampler = holder["sampler"]
    problem = search_problem(model, sampler.per_param_traces, BITS, train.tensors[0][:1])
    subnets = candidate_subnets(problem, TARGETS)
    subnets += [{"bits": [b] * problem.cost.shape[0], **problem.metrics(
        [b] * problem.cost.shape[0])} for b in BITS]
    recal = train.tensors[0][:128]
    for s in subnets:
        s["accuracy"] = evaluate_subnet(model, s["bits"], test, recal)
    result.update(per_param_traces=sampler.per_param_traces,
                  sensitive=sampler.sensitive.tolist(), subnets=subnets)
    write_result(CACHE / f"mixed_{'uniform' if uniform else 'hasb'}.json", result)


def best_at(subnets: list[dict], avg_bits: float) -> dict:
    """The ILP optimum (lowest objective) among SubNets with that average bit-width."""
    same = [s for s in subnets if abs(s["avg_bits"] - avg_bits) < 1e-9]
    return min(same, key=lambda s: s["objective"])


def report(args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = {name: json.loads((CACHE / f"mixed_{name}.json").read_text())
            for name in ("hasb", "uniform")}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    summary = {}
    for name, r in arms.items():
        subs = r["subnets"]
        for ax, key in zip(axes, ("avg_bits", "bitops"), strict=True):
            ax.scatter([s[key] for s in subs], [s["accuracy"] for s in subs], s=10, alpha=0.4)
            front = pareto_front(subs, key, "accuracy", maximize=True)
            ax.plot([s[key] for s in front], [s["accuracy"] for s in front], "-o", ms=4,
                    label=f"{name} Pareto")
        summary[name] = {"3MP_ilp_optimum": best_at(subs, 3.0)["accuracy"],
                         "uniform_bits": {str(b): best_at(subs, float(b))["accuracy"]
                                          for b in BITS},
                         "pareto_avg_bits": [(s["avg_bits"], s["accuracy"]) for s in
                                             pareto_front(subs, "avg_bits", "accuracy", True)],
                         "n_subnets": len(subs)}
    axes[0].set_xlabel("average bits")
    axes[1].set_xlabel("BitOPs per image (b_w * b_a * MAC, quantized layers)")
    for ax in axes:
        ax.set_ylabel("top-1 % (Fashion-MNIST subset)")
        ax.legend()
    fig.suptitle("{4,3,2} SuperNet + ILP SubNets: HASB vs uniform bit sampling")
    fig.tight_layout()
    fig.savefig(ROOT / "results" / "bench_mixed.png", dpi=110)
    write_result(ROOT / "results" / "bench_mixed.json", {
        "paper": "Double Rounding (Nearly Lossless Adaptive Bit Switching, arXiv 2502.01199)",
        "metric": "top-1 % of the ILP SubNet at 3 average bits (3MP), HASB SuperNet",
        "value": summary["hasb"]["3MP_ilp_optimum"],
        "baseline": "uniform bit-sampling SuperNet + the same ILP search at 3MP",
        "baseline_value": summary["uniform"]["3MP_ilp_optimum"],
        "config": (f"ResNet-20 width 0.5, 1 block/stage; Fashion-MNIST {args.train}/{args.test}; "
                   f"{{4,3,2}}, transitional BN, {args.epochs} ep from the FP32 model, "
                   f"sigma0 {args.sigma0}, tie rule {args.rule}, ILP targets {TARGETS} + fix-one-layer variants, "
                   "BN re-calibration on 128 train images"),
        "seed": args.seed, "threads": args.threads, "hardware": hardware(args.threads),
        "command": "make bench-mixed", "date": datetime.date.today().isoformat(),
        "summary": summary,
        "arms": {k: {kk: v for kk, v in r.items()} for k, r in arms.items()},
    })
    print(json.dumps(summary, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    add_scale_args(ap, train=1000, test=500)
    ap.add_argument("--part", required=True, choices=["hasb", "uniform", "report"])
    ap.add_argument("--sigma0", type=float, default=0.5)
    # half_up biases every tie of the 4-bit integers upwards and collapses w3/w2 (bench_ties.py)
    ap.add_argument("--rule", default="half_even", choices=["half_up", "half_even", "floor"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.part == "report":
        report(args)
    else:
        run_supernet(args, uniform=args.part == "uniform")


if __name__ == "__main__":
    main()
