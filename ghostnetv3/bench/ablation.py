"""The paper's ablation at a fixed epoch budget, paired by seed (`make bench-ghostnet`, ...).

Every (arm, seed) is a resumable run folder under runs/bench/<arch>/<arm>/seed<k> trained with
experiment=tiny plus the arm's switches; finished runs are reused. One teacher (plain GhostNetV3
0.5x, 2x the epochs, seed 0) serves every KD arm. The report gives mean +- SE of the fused test
top-1 per arm and the paired difference to `plain` with its 95 % t interval, only over seeds where
both arms finished (`complete: false` when the grid was cut short by --max-minutes).
"""

from __future__ import annotations

import argparse
import platform
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from common import (
    ARMS,
    PAPER,
    ROOT,
    arm_overrides,
    command,
    mean_se,
    paired_interval,
    train,
    write_json,
)

MODEL = {"ghostnetv3": "ghostnetv3_050", "mobilenetv2": "mobilenetv2_050",
         "shufflenetv2": "shufflenetv2_050"}


def run_grid(args: argparse.Namespace) -> dict[str, dict[int, dict]]:
    teacher_dir = args.runs / "teacher"
    deadline = time.time() + args.max_minutes * 60
    results: dict[str, dict[int, dict]] = {arm: {} for arm in args.arms}
    needs_teacher = any(any(o.startswith("loss.kd_weight") for o in ARMS[a]) for a in args.arms)
    if needs_teacher and not args.report_only:
        train(teacher_dir, ["experiment=tiny", "seed=0", "progress=false", "model.reparam=false",
                            f"optim.epochs={2 * args.epochs}"])
    for seed in args.seeds:  # seed-major: complete pairs accumulate first
        for arm in args.arms:
            out = args.runs / args.arch / arm / f"seed{seed}"
            if args.report_only or time.time() > deadline:
                if (out / "result.json").is_file():
                    results[arm][seed] = train(out, overrides(args, arm, seed, teacher_dir))
                continue
            results[arm][seed] = train(out, overrides(args, arm, seed, teacher_dir))
    return results


def overrides(args: argparse.Namespace, arm: str, seed: int, teacher_dir: Path) -> list[str]:
    return ["experiment=tiny", f"model={MODEL[args.arch]}", f"seed={seed}", "progress=false",
            f"optim.epochs={args.epochs}", *arm_overrides(arm, teacher_dir)]


def summarize(args: argparse.Namespace, results: dict[str, dict[int, dict]]) -> dict:
    arms = {}
    for arm, by_seed in results.items():
        accs = [by_seed[s]["test_top1_fused"] for s in sorted(by_seed)]
        mean, se = mean_se(accs) if accs else (float("nan"), float("nan"))
        arms[arm] = {"seeds": sorted(by_seed), "test_top1_fused": accs, "mean": mean, "se": se,
                     "deploy_params": sorted({r["deploy_params"] for r in by_seed.values()}),
                     "deploy_macs": sorted({r["deploy_macs"] for r in by_seed.values()}),
                     "max_fused_vs_multibranch_rel": max(
                         (r["fused_vs_multibranch_max_rel"] for r in by_seed.values()),
                         default=None)}
    paired = {}
    base = results.get("plain", {})
    for arm, by_seed in results.items():
        common = sorted(set(by_seed) & set(base))
        if arm != "plain" and len(common) >= 2:
            paired[arm] = paired_interval([by_seed[s]["test_top1_fused"] for s in common],
                                          [base[s]["test_top1_fused"] for s in common])
            paired[arm]["seeds"] = common
    return {"arms": arms, "paired_vs_plain": paired}


def plot(summary: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [a for a, v in summary["arms"].items() if v["test_top1_fused"]]
    fig, ax = plt.subplots(figsize=(1.4 * len(arms) + 2, 3.6))
    means = [100 * summary["arms"][a]["mean"] for a in arms]
    ses = [100 * (summary["arms"][a]["se"] if summary["arms"][a]["se"] == summary["arms"][a]["se"]
                  else 0) for a in arms]
    ax.bar(arms, means, yerr=ses, capsize=4, color="#6a8caf")
    for i, a in enumerate(arms):
        ax.scatter([i] * len(summary["arms"][a]["test_top1_fused"]),
                   [100 * v for v in summary["arms"][a]["test_top1_fused"]], color="k", s=8)
    ax.set_ylim(min(means) - 5, max(means) + 3)
    ax.set_ylabel("fused test top-1 (%)")
    ax.set_title(textwrap.fill(title, 60), fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", choices=sorted(MODEL), default="ghostnetv3")
    parser.add_argument("--arms", nargs="+", choices=sorted(ARMS), default=["plain", "full"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--max-minutes", type=float, default=float("inf"),
                        help="start no new run after this budget (report what finished)")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    args.runs = args.runs.resolve()  # teacher.source is recorded in every KD run's config
    torch.set_num_threads(1)
    summary = summarize(args, run_grid(args))
    name = f"bench_{args.arch}{args.tag}"
    complete = all(len(v["seeds"]) == len(args.seeds) for v in summary["arms"].values())
    best_arm = "full" if "full" in summary["arms"] else args.arms[-1]
    result = {
        "paper": PAPER,
        "metric": f"Fashion-MNIST fused test top-1, {args.arch} 0.5x, mean over seeds "
                  f"(experiment=tiny, {args.epochs} epochs)",
        "value": summary["arms"][best_arm]["mean"] if summary["arms"][best_arm]["seeds"] else None,
        "value_arm": best_arm,
        "baseline": "plain (single-branch, no KD/EMA), same seeds, epochs and deploy graph",
        "baseline_value": (summary["arms"]["plain"]["mean"]
                           if summary["arms"].get("plain", {}).get("seeds") else None),
        "complete": complete,
        "note": ("grid complete" if complete else "PARTIAL: the grid was cut short (shared CPU); "
                 "only finished runs are reported, pairs only where both arms finished"),
        **summary,
        "config": "experiment=tiny + per-arm switches: " + "; ".join(
            f"{a}: {' '.join(ARMS[a])}" for a in args.arms),
        "seed": args.seeds,
        "hardware": f"{platform.machine()} CPU, 1 torch thread, shared with other jobs",
        "command": command(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }
    write_json(ROOT / "results" / f"{name}.json", result)
    if any(v["seeds"] for v in summary["arms"].values()):
        plot(summary, ROOT / "results" / f"{name}.png", result["metric"])
    for arm, v in summary["arms"].items():
        print(f"{arm:12s} n={len(v['seeds'])} mean={v['mean']:.4f} se={v['se']:.4f}")
    for arm, v in summary["paired_vs_plain"].items():
        print(f"{arm:12s} - plain: {v['mean']:+.4f} 95% CI [{v['ci95'][0]:+.4f}, {v['ci95'][1]:+.4f}]")


if __name__ == "__main__":
    main()
