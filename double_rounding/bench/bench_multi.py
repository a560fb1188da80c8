"""Multi-precision study, {8,6,4,2}: one int8-stored Double Rounding model vs four separately
trained LSQ models, vs the FP32-stored re-quantize scheme, with ALRS and tie-rule ablations.

Every arm starts from the same FP32 ResNet-20 (small width), sees the same data order and the same
number of epochs. Parts run as separate processes (each under 8 minutes on the shared 2-core CPU)
and cache their outcome in runs/bench/; `--part report` writes results/bench_multi.json + .md.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import torch

from double_rounding.checkpoint import export_int8
from double_rounding.data import load_dataset
from double_rounding.study import add_scale_args, hardware, pretrain_fp, run_arm, write_result

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "runs" / "bench"
BITS = [8, 6, 4, 2]
ARCH = dict(arch="resnet20", num_classes=10, in_channels=1, width=0.5, blocks_per_stage=1)
# arm name -> run_arm keyword arguments
ARMS = {"double_rounding_alrs_clamped": dict(alrs="clamped"),
        "double_rounding_no_alrs": dict(alrs="none"),
        "double_rounding_alrs_literal": dict(alrs="literal"),
        "double_rounding_floor_ties": dict(rule="floor", alrs="clamped"),
        "requantize_fp32_stored": dict(scheme="requantize", alrs="clamped")}


def cache(args) -> Path:
    return CACHE if args.seed == 0 else CACHE / f"seed{args.seed}"


def data(args):
    train = load_dataset("fashion_mnist", "train", limit=args.train, seed=args.seed)
    test = load_dataset("fashion_mnist", "test", limit=args.test, seed=args.seed)
    return train, test


def common(args) -> dict:
    return dict(epochs=args.epochs, batch_size=64, lr=1e-3, seed=args.seed)


def save(args, name: str, obj: dict) -> None:
    write_result(cache(args) / f"{name}.json", obj)


def part_separate(args) -> None:
    train, test = data(args)
    fp = cache(args) / "fp32.safetensors"
    cache(args).mkdir(parents=True, exist_ok=True)
    if not fp.is_file() or args.fresh:
        save(args, "fp32", pretrain_fp(ARCH, train, test, args.fp_epochs, 64, 2e-3, args.seed, fp))
    for b in BITS:  # finished arms are kept, so an interrupted part resumes where it stopped
        if args.fresh or not (cache(args) / f"separate_w{b}.json").is_file():
            result = run_arm(ARCH, fp, train, test, [b], alrs="none", **common(args))[1]
            save(args, f"separate_w{b}", result)


def part_arm(args) -> None:
    if args.arm not in ARMS:
        raise ValueError(f"--arm must be one of {list(ARMS)}, got {args.arm!r}")
    train, test = data(args)
    fp = cache(args) / "fp32.safetensors"
    if not fp.is_file():
        raise FileNotFoundError(f"{fp} missing: run `bench_multi.py --part separate` first")
    kwargs = ARMS[args.arm]
    model, result = run_arm(ARCH, fp, train, test, BITS, **kwargs, **common(args))
    if kwargs.get("scheme", "double_rounding") == "double_rounding":
        result["export"] = export_int8(model, cache(args) / f"{args.arm}_int8.safetensors")
    save(args, args.arm, result)


def part_report(args) -> None:
    def load(name):
        path = cache(args) / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    separate = {str(b): load(f"separate_w{b}")["accuracy"][str(b)] for b in BITS}
    arms = {name: load(name) for name in ARMS if load(name)}
    dr = arms["double_rounding_alrs_clamped"]
    gaps = {b: round(dr["accuracy"][b] - separate[b], 2) for b in separate}
    rows = ["| arm | stored | " + " | ".join(f"w{b}a{b}" for b in BITS) + " | train s |",
            "|---|---|" + "---|" * (len(BITS) + 1)]
    rows.append("| separate LSQ (4 models) | 4 x int8 | " + " | ".join(
        f"{separate[str(b)]:.1f}" for b in BITS) + " | " + str(round(sum(
            load(f"separate_w{b}")["train_seconds"] for b in BITS), 1)) + " |")
    for name, r in arms.items():
        stored = "FP32" if name.startswith("requantize") else "int8"
        rows.append(f"| {name} | {stored} | " + " | ".join(
            f"{r['accuracy'][str(b)]:.1f}" for b in BITS) + f" | {r['train_seconds']} |")
    fp32 = load("fp32")
    table = "\n".join(rows) + f"\n\nFP32 start: {fp32['accuracy']:.1f} %\n"
    stem = "bench_multi" if args.seed == 0 else f"bench_multi_seed{args.seed}"
    (ROOT / "results" / f"{stem}.md").write_text(table)
    write_result(ROOT / "results" / f"{stem}.json", {
        "paper": "Double Rounding (Nearly Lossless Adaptive Bit Switching, arXiv 2502.01199)",
        "metric": "top-1 % at w2a2 of the one-shot {8,6,4,2} int8 model (ALRS clamped)",
        "value": dr["accuracy"]["2"],
        "baseline": "separately trained LSQ model at w2a2 (same FP32 start, epochs, data order)",
        "baseline_value": separate["2"],
        "config": (f"ResNet-20 width 0.5, 1 block/stage; Fashion-MNIST {args.train} train / "
                   f"{args.test} test, 32x32; FP32 {args.fp_epochs} ep then QAT {args.epochs} ep; "
                   "Adam lr 1e-3 cosine, batch 64, wd 5e-5 (scales 0)"),
        "seed": args.seed, "threads": args.threads, "hardware": hardware(args.threads),
        "command": "make bench-multi" + (f" SEED={args.seed}" if args.seed else ""),
        "date": datetime.date.today().isoformat(),
        "headline": args.seed == 0,
        "fp32": fp32, "separate_lsq": separate, "arms": arms,
        "gap_vs_separate_points": gaps,
        "targets": {"w8/w6/w4 within 0.5": all(gaps[b] >= -0.5 for b in ("8", "6", "4")),
                    "w2 within 2": gaps["2"] >= -2.0,
                    "int8 storage <= 26% of FP32": dr["export"]["ratio"] <= 0.26},
    })
    print(table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    add_scale_args(ap, train=1000)
    ap.add_argument("--part", required=True, choices=["separate", "arm", "report"])
    ap.add_argument("--arm", default=None, help=f"with --part arm: one of {list(ARMS)}")
    ap.add_argument("--fp-epochs", type=int, default=10)
    ap.add_argument("--fresh", action="store_true", help="recompute cached FP32 / separate arms")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    {"separate": part_separate, "arm": part_arm, "report": part_report}[args.part](args)


if __name__ == "__main__":
    main()
