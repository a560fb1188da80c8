"""Tie-rule ablation for {4,3,2} (stored 4-bit integers, so every odd integer is a tie at 3 bits):
one multi-precision model per rule of the second rounding, same FP32 start (study.small_fp32), data order, epochs and seed; no ALRS. `--rule R` runs one arm (one process),
`--rule report` writes results/bench_ties.json."""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import torch

from double_rounding.data import load_dataset
from double_rounding.rounding import TIE_RULES
from double_rounding.study import (
    SMALL_ARCH,
    add_scale_args,
    hardware,
    run_arm,
    small_fp32,
    write_result,
)

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "runs" / "bench"
ARCH = SMALL_ARCH
BITS = [4, 3, 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    add_scale_args(ap, train=1000, test=500, epochs=1)
    ap.add_argument("--rule", required=True, choices=[*TIE_RULES, "report"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.rule != "report":
        train = load_dataset("fashion_mnist", "train", limit=args.train, seed=args.seed)
        test = load_dataset("fashion_mnist", "test", limit=args.test, seed=args.seed)
        fp = small_fp32(CACHE, train, test, args.seed)
        model, result = run_arm(ARCH, fp, train, test, BITS, args.epochs, 64, 1e-3, args.seed,
                                rule=args.rule, alrs="none")
        write_result(CACHE / f"ties_{args.rule}.json", result)
        return
    arms = {r: json.loads((CACHE / f"ties_{r}.json").read_text()) for r in TIE_RULES}
    write_result(ROOT / "results" / "bench_ties.json", {
        "paper": "Double Rounding (Nearly Lossless Adaptive Bit Switching, arXiv 2502.01199)",
        "metric": "top-1 % at w3a3 of a {4,3,2} multi-precision model, tie rule half_up",
        "value": arms["half_up"]["accuracy"]["3"],
        "baseline": "same model with the round-half-to-even second rounding",
        "baseline_value": arms["half_even"]["accuracy"]["3"],
        "config": (f"ResNet-20 width 0.5, 1 block/stage; Fashion-MNIST {args.train}/{args.test}; "
                   f"{{4,3,2}}, {args.epochs} QAT epoch(s) from the bench FP32 model, no ALRS"),
        "seed": args.seed, "threads": args.threads, "hardware": hardware(args.threads),
        "command": "make bench-ties", "date": datetime.date.today().isoformat(),
        "arms": arms,
    })
    print({r: a["accuracy"] for r, a in arms.items()})


if __name__ == "__main__":
    main()
