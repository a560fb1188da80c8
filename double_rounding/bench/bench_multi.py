"""Main multi-precision study, {8,6,4,2}: one int8-stored Double Rounding model vs four separately
trained LSQ models, at equal optimizer steps per bit-width (primary) and equal epochs (secondary),
plus ALRS variants; several seeds, paired by seed; full 10,000-image Fashion-MNIST test set.

Budgets. The one-shot model takes `--steps` batches; Algorithm A.2 steps the optimizers once per
bit-width per batch, so it makes 4 x steps weight updates. "Equal steps" (primary) gives each
separate LSQ model the same 4 x steps updates (4 x steps batches); "equal epochs" (secondary)
gives it `--steps` batches, i.e. a quarter of the one-shot model's updates.

Data. A fixed split of the 60k Fashion-MNIST training file (seed-independent): `--train` images
for training, the next `--val` for the validation curves; the test set is only evaluated once,
at the end of each arm. One FP32 model (seed 0) is the start of every arm and seed, so the seeds
vary the QAT (data order, calibration, stochastic rounding of ties in training dynamics), not
the pre-training.

Parts run as separate processes (`--part fp32`, `--part arm --arm NAME --seed S`, `--part
report`), each caching its outcome in runs/bench_multi/; finished arms are skipped unless
`--fresh`, so an interrupted `make bench-multi` resumes where it stopped.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
from pathlib import Path

import torch
from scipy import stats
from torch.utils.data import TensorDataset

from double_rounding.checkpoint import export_int8
from double_rounding.data import fashion_mnist
from double_rounding.study import (
    code_version,
    hardware,
    pretrain_fp,
    run_arm,
    write_result,
)

ROOT = Path(__file__).resolve().parents[1]
BITS = [8, 6, 4, 2]
SPLIT_SEED = 1234  # fixed train/val split of the training file, shared by every seed
FP32_BATCH = 128


def arms() -> dict[str, dict]:
    """Arm name -> run_arm keyword arguments (bits, ALRS mode, steps multiplier)."""
    table = {f"dr_alrs_{mode}": dict(bits=BITS, alrs=mode, factor=1)
             for mode in ("relative", "clamped", "literal", "none")}
    # ablations with code but not in the default chain (no CPU time for them this session)
    table["dr_floor_ties"] = dict(bits=BITS, alrs="relative", factor=1, rule="floor")
    table["requantize_fp32_stored"] = dict(bits=BITS, alrs="relative", factor=1,
                                           scheme="requantize")
    for b in BITS:
        table[f"lsq_w{b}_equal_steps"] = dict(bits=[b], alrs="none", factor=len(BITS))
        table[f"lsq_w{b}_equal_epochs"] = dict(bits=[b], alrs="none", factor=1)
    return table


MAIN = "dr_alrs_relative"


def arch(args) -> dict:
    return dict(arch="resnet20", num_classes=10, in_channels=1, width=args.width,
                blocks_per_stage=3)


def data(args) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
    full = fashion_mnist(args.data_root, "train")
    perm = torch.randperm(len(full), generator=torch.Generator().manual_seed(SPLIT_SEED))
    x, y = full.tensors
    tr, va = perm[:args.train], perm[args.train:args.train + args.val]
    test = fashion_mnist(args.data_root, "test")
    return TensorDataset(x[tr], y[tr]), TensorDataset(x[va], y[va]), test


def config(args) -> dict:
    """Every setting that changes a number (recorded in each cached part and the results)."""
    return {"arch": arch(args), "bits": BITS, "train_images": args.train, "val_images": args.val,
            "test_images": 10000, "split_seed": SPLIT_SEED, "fp32_epochs": args.fp_epochs,
            "fp32_lr": 2e-3, "fp32_batch_size": FP32_BATCH, "qat_steps_one_shot": args.steps, "batch_size": args.batch_size,
            "lr": args.lr, "weight_decay": 5e-5, "schedule": "cosine, no warm-up",
            "eval_every": args.eval_every, "tie_rule": "half_up", "threads": args.threads}


FP32_KEYS = ("arch", "train_images", "val_images", "test_images", "split_seed", "fp32_epochs",
             "fp32_lr", "fp32_batch_size", "threads")


def fp32_config(args) -> dict:
    """The settings the shared FP32 start depends on (QAT settings may change without it)."""
    return {k: v for k, v in config(args).items() if k in FP32_KEYS}


def cached(args, name: str) -> Path:
    return Path(args.cache) / f"seed{args.seed}" / f"{name}.json"


def check_config(args, path: Path, expected: dict) -> None:
    """A cached part from other settings must not be mixed into this study."""
    if path.is_file():
        old = json.loads(path.read_text()).get("study_config")
        if old != expected:
            raise SystemExit(f"{path} was computed with different settings ({old}); "
                             f"pass --fresh, another --cache, or delete {args.cache}")


def part_fp32(args) -> None:
    CACHE = Path(args.cache)
    path = CACHE / "fp32.json"
    if path.is_file() and not args.fresh:
        check_config(args, path, fp32_config(args))
        print(f"{path} exists; skipping")
        return
    train, val, test = data(args)
    CACHE.mkdir(parents=True, exist_ok=True)
    out = pretrain_fp(arch(args), train, test, args.fp_epochs, FP32_BATCH, 2e-3, 0,
                      CACHE / "fp32.safetensors")
    write_result(path, {**out, "study_config": fp32_config(args)})


def part_arm(args) -> None:
    table = arms()
    if args.arm not in table:
        raise SystemExit(f"--arm must be one of {list(table)}, got {args.arm!r}")
    path = cached(args, args.arm)
    CACHE = Path(args.cache)
    fp = CACHE / "fp32.safetensors"
    if not fp.is_file():
        raise SystemExit(f"{fp} missing: run `bench_multi.py --part fp32` first")
    if path.is_file() and not args.fresh:
        check_config(args, path, config(args))
        print(f"{path} exists; skipping")
        return
    check_config(args, CACHE / "fp32.json", fp32_config(args))
    spec = table[args.arm]
    train, val, test = data(args)
    steps = args.steps * spec["factor"]
    model, result = run_arm(arch(args), fp, train, test, spec["bits"], 0, args.batch_size,
                            args.lr, args.seed, alrs=spec["alrs"], steps=steps, val=val,
                            scheme=spec.get("scheme", "double_rounding"),
                            rule=spec.get("rule", "half_up"),
                            eval_every=args.eval_every * spec["factor"])
    if args.arm == MAIN:  # the deployable int8 file of the kept configuration
        result["export"] = export_int8(model, CACHE / "exports" / f"seed{args.seed}_int8.safetensors")
    write_result(path, {**result, "arm": args.arm, "seed": args.seed,
                        "command": " ".join(["python", *sys.argv]),
                        "study_config": config(args)})


def paired(diffs: list[float]) -> dict:
    """Mean, standard error and 95 % t interval of per-seed paired differences."""
    n = len(diffs)
    mean = sum(diffs) / n
    if n < 2:
        return {"n": n, "mean": mean, "se": None, "ci95": None, "per_seed": diffs}
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    se = sd / math.sqrt(n)
    t = float(stats.t.ppf(0.975, n - 1))
    return {"n": n, "mean": round(mean, 3), "se": round(se, 3),
            "ci95": [round(mean - t * se, 3), round(mean + t * se, 3)], "per_seed": diffs}


def compare(runs: dict[int, dict], arm: str, baseline_of) -> dict:
    """Per bit-width paired differences arm - baseline over the seeds that have both."""
    out = {}
    for b in BITS:
        diffs = [round(r[arm]["accuracy"][str(b)] - r[baseline_of(b)]["accuracy"][str(b)], 2)
                 for r in runs.values() if arm in r and baseline_of(b) in r]
        if diffs:
            out[str(b)] = paired(diffs)
    return out


def plot_curves(runs: dict[int, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(BITS), figsize=(4 * len(BITS), 3.4), sharey=False)
    for ax, b in zip(axes, BITS, strict=True):
        for seed, r in sorted(runs.items()):
            for name, style in ((MAIN, "-"), (f"lsq_w{b}_equal_steps", "--")):
                if name in r and r[name]["val_curve"]:
                    c = r[name]["val_curve"]
                    # x axis: weight updates the model received (one-shot: 4 per batch)
                    ax.plot([p["step"] * (len(BITS) if name == MAIN else 1) for p in c],
                            [p[str(b)] for p in c], style, alpha=0.7,
                            label=f"{'one-shot' if name == MAIN else 'separate LSQ'} s{seed}")
        ax.set_title(f"w{b}a{b}")
        ax.set_xlabel("optimizer steps")
    axes[0].set_ylabel("validation top-1 %")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def part_report(args) -> None:
    CACHE = Path(args.cache)
    seeds = sorted(int(p.name[4:]) for p in CACHE.glob("seed*") if p.is_dir())
    runs = {s: {p.stem: json.loads(p.read_text()) for p in (CACHE / f"seed{s}").glob("*.json")}
            for s in seeds}
    for r in runs.values():
        for part in r.values():
            if part.get("study_config") != config(args):
                raise SystemExit(f"cached part {part.get('arm')} seed {part.get('seed')} has "
                                 "different settings; rerun with the same options or --fresh")
    runs = {s: r for s, r in runs.items() if MAIN in r}
    fp32 = json.loads((CACHE / "fp32.json").read_text())
    summary = {
        "one_shot_minus_separate_equal_steps": compare(runs, MAIN,
                                                       lambda b: f"lsq_w{b}_equal_steps"),
        "one_shot_minus_separate_equal_epochs": compare(runs, MAIN,
                                                        lambda b: f"lsq_w{b}_equal_epochs"),
        **{f"{MAIN}_minus_{mode}": compare(runs, MAIN, lambda b, m=mode: f"dr_alrs_{m}")
           for mode in ("clamped", "literal", "none")},
    }
    accuracy = {s: {name: part["accuracy"] for name, part in r.items()} for s, r in runs.items()}
    alrs = {s: {name: part["alrs"] for name, part in r.items() if name.startswith("dr_")}
            for s, r in runs.items()}
    out = Path(args.out)
    plot_curves(runs, out.with_name(out.stem + "_curves.png"))
    main = summary["one_shot_minus_separate_equal_steps"]
    write_result(out, {
        "paper": "Double Rounding (Nearly Lossless Adaptive Bit Switching, arXiv 2502.01199)",
        # Headline: accuracies at w8 (the bit-width with the tightest paired interval); the
        # paired differences at every bit-width are in "summary" and the README table.
        "metric": "top-1 % at w8a8 of the one-shot int8 {8,6,4,2} model, mean over "
                  f"{len(runs)} seeds (full 10k test set; one-shot minus separate at equal steps: "
                  f"{_fmt(main.get('8'))} points)",
        "value": mean_accuracy(accuracy, MAIN, "8"),
        "baseline": "separately trained LSQ w8 models, same FP32 start and optimizer steps",
        "baseline_value": mean_accuracy(accuracy, "lsq_w8_equal_steps", "8"),
        "headline": True,
        "config": config(args), "seed": sorted(runs),
        "command": "make bench-multi SEEDS='" + " ".join(map(str, sorted(runs))) + "'",
        "report_command": " ".join(["python", *sys.argv]),
        "hardware": hardware(args.threads), "date": datetime.date.today().isoformat(),
        "code_version": code_version(), "fp32": fp32, "summary": summary, "accuracy": accuracy, "alrs": alrs,
        "commands": {s: {name: part["command"] for name, part in r.items()}
                     for s, r in runs.items()},
        "val_curves": {s: {name: part["val_curve"] for name, part in r.items()}
                       for s, r in runs.items()},
        "export": {s: r[MAIN].get("export") for s, r in runs.items()},
        "targets": {"lower 95% end >= -0.5 at w8/w6/w4": all(
            main.get(b, {}).get("ci95") and main[b]["ci95"][0] >= -0.5 for b in ("8", "6", "4")),
            "lower 95% end >= -2 at w2": bool(main.get("2", {}).get("ci95")
                                              and main["2"]["ci95"][0] >= -2.0)},
    })
    out.with_suffix(".md").write_text(markdown(summary, accuracy, alrs, fp32))
    print(out.with_suffix(".md").read_text())


def mean_accuracy(accuracy: dict, arm: str, bits: str) -> float | None:
    values = [runs[arm][bits] for runs in accuracy.values() if arm in runs]
    return round(sum(values) / len(values), 2) if values else None


def _fmt(c: dict | None) -> str:
    if not c:
        return "-"
    if c["ci95"] is None:
        return f"{c['mean']:+.2f} (n={c['n']})"
    return f"{c['mean']:+.2f} ± {c['se']:.2f} [{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}]"


def markdown(summary: dict, accuracy: dict, alrs: dict, fp32: dict) -> str:
    """The README tables: mean accuracy per arm, paired differences, ALRS bound counts."""
    seeds = sorted(accuracy)
    names = sorted({n for a in accuracy.values() for n in a})
    lines = [f"FP32 start: {fp32['accuracy']:.2f} % (full test set). Seeds: {seeds}.", "",
             "| arm | seeds | " + " | ".join(f"w{b}a{b}" for b in BITS) + " |",
             "|---|---|" + "---|" * len(BITS)]
    for name in names:
        have = [accuracy[s][name] for s in seeds if name in accuracy[s]]
        cells = []
        for b in BITS:
            vals = [a[str(b)] for a in have if str(b) in a]
            cells.append(f"{sum(vals) / len(vals):.2f}" if vals else "")
        lines.append(f"| {name} | {len(have)} | " + " | ".join(cells) + " |")
    lines += ["", "| paired difference (points), mean ± SE [95 % t interval] | "
              + " | ".join(f"w{b}" for b in BITS) + " |", "|---|" + "---|" * len(BITS)]
    for key, comp in summary.items():
        lines.append(f"| {key} | " + " | ".join(_fmt(comp.get(str(b))) for b in BITS) + " |")
    lines += ["", "| ALRS arm | seed | calls | floor binds | norm clip binds (of layer terms) "
              "| rate / (eta_b lambda): min / mean / max |", "|---|---|---|---|---|---|"]
    for s in seeds:
        for name, a in sorted(alrs[s].items()):
            if a["mode"] in ("relative", "clamped", "literal"):
                f = [a["factor_min"], a["factor_mean"], a["factor_max"]]
                lines.append(f"| {name} | {s} | {a['calls']} | {a['floor_events']} | "
                             f"{a['norm_clip_events']} / {a['layer_terms']} | "
                             + " / ".join(f"{v:.4g}" for v in f) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--part", required=True, choices=["fp32", "arm", "report"])
    ap.add_argument("--arm", default=None, help=f"with --part arm: one of {list(arms())}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--train", type=int, default=20000, help="training images")
    ap.add_argument("--val", type=int, default=1000, help="validation images (curves)")
    ap.add_argument("--fp-epochs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=24, help="one-shot QAT batches")
    ap.add_argument("--batch-size", type=int, default=64, help="QAT batch size")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--eval-every", type=int, default=8, help="batches between curve points")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-root", default=None, help="Fashion-MNIST root (default: Debian)")
    ap.add_argument("--fresh", action="store_true", help="recompute a cached part")
    ap.add_argument("--cache", default=str(ROOT / "runs" / "bench_multi"),
                    help="folder of the cached parts")
    ap.add_argument("--out", default=str(ROOT / "results" / "bench_multi.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    {"fp32": part_fp32, "arm": part_arm, "report": part_report}[args.part](args)


if __name__ == "__main__":
    main()
