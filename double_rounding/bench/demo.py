"""make demo: one multi-precision ResNet-20 (small width) vs separately trained LSQ models at two
bit-widths on a Fashion-MNIST subset, same FP32 start, epochs, data order and seed."""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time
from pathlib import Path

import torch

from double_rounding.data import load_dataset
from double_rounding.study import add_scale_args, hardware, pretrain_fp, run_arm, write_result

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    add_scale_args(ap)
    ap.add_argument("--bits", type=int, nargs="+", default=[8, 4])
    ap.add_argument("--fp-epochs", type=int, default=2)
    ap.add_argument("--data", default="fashion_mnist", choices=["fashion_mnist", "synthetic"])
    ap.add_argument("--out", default=str(ROOT / "results" / "demo.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    start = time.time()
    train = load_dataset(args.data, "train", limit=args.train, seed=args.seed)
    test = load_dataset(args.data, "test", limit=args.test, seed=args.seed)
    arch = dict(arch="resnet20", num_classes=10, in_channels=1, width=0.5, blocks_per_stage=1)
    common = dict(epochs=args.epochs, batch_size=64, lr=1e-3, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        fp = Path(tmp) / "fp32.safetensors"
        fp32 = pretrain_fp(arch, train, test, args.fp_epochs, 64, 2e-3, args.seed, fp)
        _, multi = run_arm(arch, fp, train, test, args.bits, alrs="clamped", **common)
        separate = {str(b): run_arm(arch, fp, train, test, [b], alrs="none", **common)[1]
                    for b in args.bits}
    low = str(min(args.bits))
    sep_acc = {b: r["accuracy"][b] for b, r in separate.items()}
    cmd = "make demo" if args.out.endswith("results/demo.json") else "python bench/demo.py"
    write_result(Path(args.out), {
        "paper": "Double Rounding (Nearly Lossless Adaptive Bit Switching, arXiv 2502.01199)",
        "metric": f"top-1 % at w{low}a{low}, one int8-stored multi-precision model {args.bits}",
        "value": multi["accuracy"][low],
        "baseline": f"separately trained LSQ model at w{low}a{low} (same epochs, FP32 start)",
        "baseline_value": sep_acc[low],
        "config": (f"ResNet-20 width 0.5, 1 block/stage, {args.data} "
                   f"{args.train} train / {args.test} test, 32x32, FP32 {args.fp_epochs} ep + "
                   f"QAT {args.epochs} ep, Adam lr 1e-3 cosine, batch 64, ALRS clamped"),
        "seed": args.seed, "threads": args.threads, "hardware": hardware(args.threads),
        "command": cmd, "date": datetime.date.today().isoformat(),
        "multi_precision": multi, "separate_lsq": sep_acc, "fp32": fp32,
        "wall_seconds": round(time.time() - start, 1),
    })
    print(f"multi-precision {multi['accuracy']}  separate LSQ {sep_acc}")


if __name__ == "__main__":
    main()
