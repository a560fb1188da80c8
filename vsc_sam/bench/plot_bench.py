"""Bar chart of segment µAP (95% bootstrap CI) per descriptor x localiser from a results JSON.

Usage: python bench/plot_bench.py results/bench.json results/bench.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src: str, dst: str) -> None:
    data = json.load(open(src))
    descriptors = list(data["descriptors"])
    localisers = list(data["descriptors"][descriptors[0]]["localisers"])
    filtered = list(
        data["descriptors"][descriptors[0]].get("pair_filter", {}).get("localisers", {})
    )
    localisers += [f"{n}+pf" for n in filtered]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / len(localisers)
    for k, name in enumerate(localisers):
        values, lows, highs = [], [], []
        for d in descriptors:
            entry = data["descriptors"][d]
            r = (
                entry["pair_filter"]["localisers"][name[:-3]]
                if name.endswith("+pf")
                else entry["localisers"][name]
            )
            values.append(r["segment_micro_ap"])
            lows.append(r["segment_micro_ap"] - r["segment_micro_ap_ci95"][0])
            highs.append(r["segment_micro_ap_ci95"][1] - r["segment_micro_ap"])
        xs = [i + (k - (len(localisers) - 1) / 2) * width for i in range(len(descriptors))]
        ax.bar(xs, values, width, yerr=[lows, highs], capsize=3, label=name)
    ax.set_xticks(range(len(descriptors)), descriptors)
    ax.set_ylabel("segment µAP (official metric)")
    ax.set_ylim(0, 1)
    ax.legend(ncol=4, fontsize=7, loc="upper center")
    ax.set_title(f"synthetic VSC benchmark, {data['benchmark']['n_test_queries']} test queries")
    fig.tight_layout()
    fig.savefig(dst, dpi=120)


if __name__ == "__main__":
    main(*sys.argv[1:3])
