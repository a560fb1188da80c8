"""Markdown table of a results JSON written by vsc_sam-eval (used for README.md).

Usage: python bench/results_table.py results/bench.json
"""

import json
import sys


def fmt(x: float) -> str:
    return f"{x:.3f}"


def main(path: str) -> None:
    data = json.load(open(path))
    bench = data["benchmark"]
    print(f"Command: `{data['command']}` · config `{data['config']}` · test split: "
          f"{bench['n_test_queries']} queries, {bench['n_test_refs']} refs, "
          f"{bench['n_gt_segments']} GT segments · seed {data['seed']} · {data['date']}\n")
    print("| descriptor | localiser | segment µAP | 95% CI | pairwise uAP "
          "| boundary MAE start / end (s) | GT within 1 s | ms / pair |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, entry in data["descriptors"].items():
        for name, r in entry["localisers"].items():
            lo, hi = r["segment_micro_ap_ci95"]
            b = r["boundary"]
            print(f"| {kind} | {name} | **{fmt(r['segment_micro_ap'])}** | {fmt(lo)}–{fmt(hi)} | "
                  f"{fmt(r['pairwise_micro_ap'])} | {b['mean_abs_start_s']:.2f} / "
                  f"{b['mean_abs_end_s']:.2f} | {b['within_1s']:.2f} | {r['ms_per_pair']:.1f} |")
    print()
    for kind, entry in data["descriptors"].items():
        print(f"- {kind}: descriptor-track uAP {fmt(entry['descriptor_uap'])} "
              f"({entry['n_candidate_pairs']} candidate pairs); localised pairs "
              f"{entry['n_localised_pairs']} (top-5 per query), containing "
              f"{entry['gt_pair_recall_of_localised']:.0%} of GT pairs")


if __name__ == "__main__":
    main(sys.argv[1])
