"""Print the README's markdown tables from results/*.json (so no number is typed by hand).

Usage: python bench/tables.py results/demo.json [results/bench_tiny.json ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def ci(entry: dict) -> str:
    lo, hi = entry["ci"]
    return f"{entry['value']:.3f} [{lo:.3f}, {hi:.3f}]"


def run_table(results: dict) -> str:
    lines = ["| method | test AUC [95% CI] | TPR@5%FPR | TPR@1%FPR | dev AUC | chosen |",
             "|---|---|---|---|---|---|"]
    for name, m in results["methods"].items():
        chosen = (f"layer {m['layer']}" if "layer" in m
                  else f"k={m['k']}" if m.get("k") is not None else "")
        dev = "—" if m["dev_auc"] is None else f"{m['dev_auc']:.3f}"
        lines.append(f"| {name} | {ci(m['test']['auc'])} | {m['test']['tpr@0.05fpr']['value']:.3f}"
                     f" | {m['test']['tpr@0.01fpr']['value']:.3f} | {dev} | {chosen} |")
    for name, diff in results["comparisons"].items():
        lines.append(f"\n`{name}` (paired bootstrap): {ci(diff)}")
    return "\n".join(lines)


def bench_table(record: dict) -> str:
    rows = record["by_duplication"]
    names = sorted({n for row in rows.values() for n in row if n != "best_attack_by_dev"})
    lines = ["| method | " + " | ".join(f"dup {d}" for d in rows) + " |",
             "|---|" + "---|" * len(rows)]
    for name in [*names, "best_attack_by_dev"]:
        cells = []
        for row in rows.values():
            entry = row.get(name)
            if entry is None:
                cells.append("—")
                continue
            sd = entry.get("std")
            seeds = len(entry["per_seed"])
            cells.append(f"{entry['mean']:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")
                         + f" (n={seeds})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    layers = {cell: v["probe_layer"] for cell, v in record["cells"].items()}
    lines.append(f"\nprobe layers chosen on dev: {layers}")
    diffs = {cell: {k: ci(d) for k, d in v["probe_minus_best_attack"].items()}
             for cell, v in record["cells"].items()}
    lines.append(f"\nprobe − best attack (paired bootstrap, per cell): {diffs}")
    return "\n".join(lines)


def main(paths: list[str]) -> None:
    for path in paths:
        record = json.loads(Path(path).read_text())
        print(f"### {path}\n")
        print(bench_table(record) if "by_duplication" in record else run_table(record["results"]))
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
