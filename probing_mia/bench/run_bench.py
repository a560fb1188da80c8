"""make bench: AUC of every method vs member duplication, several seeds, on exact-membership
targets. Each (duplication, seed) cell is its own resumable run folder under runs/<name>/; the
aggregate results/<name>.json (+ .png, + per-cell raw scores) is rewritten after every cell, so
an interrupted study still reports exactly the cells it finished.

Usage: python bench/run_bench.py --name bench_tiny --dups 1 5 --seeds 0 1 2 -- experiment=bench
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

from probing_mia import pipeline
from probing_mia.study import PAPER, provenance, run_one

ROOT = Path(__file__).resolve().parents[1]


def cell_summary(results: dict) -> dict:
    methods = results["methods"]
    return {
        "test_auc": {n: m["test"]["auc"]["value"] for n, m in methods.items()},
        "test_auc_ci": {n: m["test"]["auc"]["ci"] for n, m in methods.items()},
        "tpr@0.05fpr": {n: m["test"]["tpr@0.05fpr"]["value"] for n, m in methods.items()},
        "tpr@0.01fpr": {n: m["test"]["tpr@0.01fpr"]["value"] for n, m in methods.items()},
        "dev_auc": {n: m["dev_auc"] for n, m in methods.items()},
        "k": {n: m["k"] for n, m in methods.items() if m.get("k") is not None},
        "probe_layer": {n: m["layer"] for n, m in methods.items() if "layer" in m},
        "best_attack_by_dev": results["best_attack_by_dev"],
        "probe_minus_best_attack": results["comparisons"],
    }


def aggregate(cells: dict[tuple[int, int], dict]) -> dict:
    """duplication -> method -> mean / std / per-seed test AUC; best attack picked on dev."""
    table: dict[int, dict] = {}
    for dup in sorted({d for d, _ in cells}):
        runs = [cells[key] for key in sorted(cells) if key[0] == dup]
        names = sorted(set.intersection(*(set(r["test_auc"]) for r in runs)))
        row = {n: {"mean": float(np.mean([r["test_auc"][n] for r in runs])),
                   "std": float(np.std([r["test_auc"][n] for r in runs], ddof=1))
                   if len(runs) > 1 else None,
                   "per_seed": [r["test_auc"][n] for r in runs]} for n in names}
        best = [r["test_auc"][r["best_attack_by_dev"]] for r in runs]
        row["best_attack_by_dev"] = {"mean": float(np.mean(best)), "per_seed": best,
                                     "names": [r["best_attack_by_dev"] for r in runs]}
        table[dup] = row
    return table


def plot(path: Path, table: dict, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dups = sorted(table)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name in sorted(table[dups[0]]):
        if name == "best_attack_by_dev":
            continue
        means = [table[d][name]["mean"] for d in dups if name in table[d]]
        stds = [table[d][name]["std"] or 0.0 for d in dups if name in table[d]]
        ax.errorbar(dups[:len(means)], means, yerr=stds, marker="o", capsize=3, label=name,
                    lw=2.2 if name.startswith("probe") else 1)
    ax.axhline(0.5, color="k", ls=":", lw=0.8)
    ax.set(xscale="log", xlabel="member duplication", ylabel="test AUC (mean ± sd over seeds)",
           title=title)
    ax.set_xticks(dups, [str(d) for d in dups])
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    tmp = path.with_name(".tmp_" + path.name)
    fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    tmp.replace(path)


def write(name: str, cells: dict, eval_cfg, overrides: list[str], plan: dict) -> None:
    table = aggregate(cells)
    head = min(table)
    row = table[head]
    seeds = len(row["probe_transductive"]["per_seed"])
    record = {
        "paper": PAPER,
        "metric": f"test AUC at duplication {head}, mean over {seeds} seed(s) "
                  "(probe: paper's transductive standardisation)",
        "value": row["probe_transductive"]["mean"],
        "baseline": "best black-box attack chosen on dev per run",
        "baseline_value": row["best_attack_by_dev"]["mean"],
        **provenance(eval_cfg, eval_cfg.threads),
        "overrides": overrides,
        "plan": plan,
        "cells_done": [f"dup{d}_seed{s}" for d, s in sorted(cells)],
        "by_duplication": {str(d): v for d, v in table.items()},
        "cells": {f"dup{d}_seed{s}": v for (d, s), v in sorted(cells.items())},
        "raw_scores": f"results/{name}_scores/",
    }
    out = ROOT / "results"
    pipeline.write_json(out / f"{name}.json", record)
    plot(out / f"{name}.png", table, f"{name}: AUC vs duplication")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--dups", type=int, nargs="+", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    args, rest = parser.parse_known_args(argv)
    overrides = [a for a in rest if a != "--"]
    plan = {"dups": args.dups, "seeds": args.seeds}
    cells: dict[tuple[int, int], dict] = {}
    raw = ROOT / "results" / f"{args.name}_scores"
    raw.mkdir(parents=True, exist_ok=True)
    for dup in args.dups:  # duplication outermost: the first one gets all its seeds first
        for seed in args.seeds:
            cell = [*overrides, f"corpus.duplication={dup}", f"seed={seed}",
                    f"corpus.split_seed={seed}"]
            root = ROOT / "runs" / args.name / f"dup{dup}_seed{seed}"
            _, eval_cfg, results = run_one(cell, root)
            cells[(dup, seed)] = cell_summary(results)
            shutil.copyfile(root / "eval" / "scores.jsonl", raw / f"dup{dup}_seed{seed}.jsonl")
            write(args.name, cells, eval_cfg, overrides, plan)
            print(f"done dup={dup} seed={seed}: {cells[(dup, seed)]['test_auc']}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
