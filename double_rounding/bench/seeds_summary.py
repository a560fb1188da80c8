"""Across-seed summary of `make bench-multi SEED=s`: one-shot minus separate, ALRS minus no ALRS.

Reads results/bench_multi.json (seed 0) and results/bench_multi_seed*.json, pairs every arm with
the separate LSQ models *of the same seed* (same FP32 start, data subset and order), and reports
the mean paired gap per bit-width with its standard error and a two-sided 95% t interval.
Writes results/bench_multi_seeds.json, .md and .png. Usage: python bench/seeds_summary.py
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

from scipy import stats

from double_rounding.study import write_result

ROOT = Path(__file__).resolve().parents[1]
MAIN = "double_rounding_alrs_clamped"
NO_ALRS = "double_rounding_no_alrs"
SEEDED = re.compile(r"bench_multi_seed(\d+)\.json")
# A gap counts as "within t points" when the one-shot model is at most t points worse.
TARGETS = {"8": 0.5, "6": 0.5, "4": 0.5, "2": 2.0}


def load_runs(results: Path) -> list[dict]:
    seeded = [p for p in results.glob("bench_multi_seed*.json") if SEEDED.fullmatch(p.name)]
    files = [results / "bench_multi.json",
             *sorted(seeded, key=lambda p: int(SEEDED.fullmatch(p.name)[1]))]
    runs = [json.loads(f.read_text()) for f in files if f.exists()]
    if not runs:
        raise FileNotFoundError(f"no bench_multi*.json in {results}; run `make bench-multi` first")
    return runs


def paired_stats(values: list[float]) -> dict:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
    se = sd / math.sqrt(n)
    half = float(stats.t.ppf(0.975, n - 1)) * se if n > 1 else float("nan")
    return {"n": n, "mean": round(mean, 2), "sd": round(sd, 2), "se": round(se, 2),
            "ci95": [round(mean - half, 2), round(mean + half, 2)],
            "per_seed": values}


def summarize(runs: list[dict]) -> dict:
    bits = list(TARGETS)
    with_main = [r for r in runs if MAIN in r["arms"]]
    gap = {b: paired_stats([round(r["arms"][MAIN]["accuracy"][b] - r["separate_lsq"][b], 1)
                            for r in with_main]) for b in bits}
    with_both = [r for r in with_main if NO_ALRS in r["arms"]]
    alrs = {b: paired_stats([round(r["arms"][MAIN]["accuracy"][b]
                                   - r["arms"][NO_ALRS]["accuracy"][b], 1)
                             for r in with_both]) for b in bits}
    targets = {f"w{b} within {t}": {"mean_meets": gap[b]["mean"] >= -t,
                                    "ci95_lower_meets": gap[b]["ci95"][0] >= -t}
               for b, t in TARGETS.items()}
    mean_acc = lambda accs: round(sum(accs) / len(accs), 2)  # noqa: E731
    return {"paper": with_main[0]["paper"],
            "metric": "mean top-1 % at w6a6 over seeds of the one-shot int8 model (ALRS clamped)",
            "value": mean_acc([r["arms"][MAIN]["accuracy"]["6"] for r in with_main]),
            "baseline": "separately trained LSQ models at w6a6, same seeds",
            "baseline_value": mean_acc([r["separate_lsq"]["6"] for r in with_main]),
            "config": with_main[0]["config"], "seed": [r["seed"] for r in with_main],
            "hardware": with_main[-1]["hardware"], "date": with_main[-1]["date"],
            "gap_vs_separate": gap,
            "alrs_minus_no_alrs": alrs, "targets": targets,
            "fp32_per_seed": [r["fp32"]["accuracy"] for r in with_main],
            "command": "python bench/seeds_summary.py"}


def to_markdown(s: dict) -> str:
    rows = ["| quantity | " + " | ".join(f"w{b}" for b in TARGETS) + " |",
            "|---|" + "---|" * len(TARGETS)]
    for key, label in (("gap_vs_separate", "one-shot − separate"),
                       ("alrs_minus_no_alrs", "ALRS − no ALRS")):
        st = s[key]
        rows.append(f"| {label}: mean ± SE (n={st['8']['n']}) | " + " | ".join(
            f"{st[b]['mean']:+.2f} ± {st[b]['se']:.2f}" for b in TARGETS) + " |")
        rows.append(f"| {label}: 95% t interval | " + " | ".join(
            f"[{st[b]['ci95'][0]:+.2f}, {st[b]['ci95'][1]:+.2f}]" for b in TARGETS) + " |")
    return f"Seeds {s['seed']}\n\n" + "\n".join(rows) + "\n"


def plot(s: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bits = list(TARGETS)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for i, b in enumerate(bits):
        ax.scatter([i] * len(s["gap_vs_separate"][b]["per_seed"]),
                   s["gap_vs_separate"][b]["per_seed"], color="0.7", s=12)
        lo, hi = s["gap_vs_separate"][b]["ci95"]
        ax.errorbar(i, s["gap_vs_separate"][b]["mean"], yerr=[[s["gap_vs_separate"][b]["mean"]
                    - lo], [hi - s["gap_vs_separate"][b]["mean"]]], fmt="o", color="C0",
                    capsize=4)
        ax.hlines(-TARGETS[b], i - 0.3, i + 0.3, colors="C3", linestyles="dashed")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(range(len(bits)), [f"w{b}a{b}" for b in bits])
    ax.set_ylabel("one-shot − separate (points)")
    ax.set_title(f"paired by seed, n={len(s['seed'])}, mean and 95% CI; red: target")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", type=Path, default=ROOT / "results")
    a = ap.parse_args()
    s = summarize(load_runs(a.results))
    stem = a.results / "bench_multi_seeds"
    write_result(stem.with_suffix(".json"), s)
    stem.with_suffix(".md").write_text(to_markdown(s))  # a view of the JSON, as bench_multi's
    plot(s, stem.with_suffix(".png"))
    print(to_markdown(s))


if __name__ == "__main__":
    main()
