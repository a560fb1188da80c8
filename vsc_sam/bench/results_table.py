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
    print(
        f"Command: `{data['command']}` · config hash `{data.get('config_hash', '-')}` · test split: "
        f"{bench['n_test_queries']} queries, {bench['n_test_refs']} refs, "
        f"{bench['n_gt_segments']} GT segments · seed {data['seed']} · {data['date']}\n"
    )
    print(
        "| descriptor | localiser | segment µAP | 95% CI | pairwise uAP "
        "| boundary MAE start / end (s) | GT within 1 s | ms / pair |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for kind, entry in data["descriptors"].items():
        rows = list(entry["localisers"].items())
        rows += [
            (f"{n} + pair filter", r)
            for n, r in entry.get("pair_filter", {}).get("localisers", {}).items()
        ]
        for name, r in rows:
            lo, hi = r["segment_micro_ap_ci95"]
            b = r["boundary"]
            print(
                f"| {kind} | {name} | **{fmt(r['segment_micro_ap'])}** | {fmt(lo)}–{fmt(hi)} | "
                f"{fmt(r['pairwise_micro_ap'])} | {b['mean_abs_start_s']:.2f} / "
                f"{b['mean_abs_end_s']:.2f} | {b['within_1s']:.2f} | {r['ms_per_pair']:.1f} |"
            )
    print()
    for kind, entry in data["descriptors"].items():
        print(
            f"- {kind}: descriptor-track uAP {fmt(entry['descriptor_uap'])} "
            f"({entry['n_candidate_pairs']} candidate pairs); localised pairs "
            f"{entry['n_localised_pairs']} (top-5 per query), containing "
            f"{entry['gt_pair_recall_of_localised']:.0%} of GT pairs"
        )
        pf = entry.get("pair_filter")
        if pf and "pair_uap_of_localised" in pf:
            print(
                f"  - pair filter: trained on {pf['n_train_pairs']} training-split pairs "
                f"({pf['train_positive_fraction']:.0%} copies), loss "
                f"{pf['loss_first_last'][0]:.3f} -> {pf['loss_first_last'][1]:.3f}; pair uAP of "
                f"its p(copy) over the localised test pairs {fmt(pf['pair_uap_of_localised'])}"
            )
        for name, d in entry.get("minus_tn", {}).items():
            print(
                f"  - {name} − tn: {d['difference']:+.3f} (paired bootstrap SE {d['se']:.3f}, "
                f"95% interval {d['ci95'][0]:+.3f} to {d['ci95'][1]:+.3f}); SE of {name} µAP "
                f"{d['se_a']:.3f}"
            )
        look = entry.get("lookalike_negatives")
        if look and "fraction_noncopy_at_least_median" in look:
            print(
                f"  - look-alike negatives: {look['fraction_noncopy_at_least_median']:.1%} of "
                f"{look['n_noncopy_frames']} non-copy query frames are at least as similar to some "
                f"reference frame as the median copied frame ({look['median_best_sim_copied']:.3f})"
            )
        if "sscd" in entry:
            first, last = entry["sscd"]["log_first_last"]
            print(
                f"  - SSCD: {entry['sscd']['config']['steps']} steps on "
                f"{entry['sscd']['n_train_videos']} training-split videos, loss "
                f"{first['loss']:.3f} -> {last['loss']:.3f} (InfoNCE {first['info_nce']:.3f} -> "
                f"{last['info_nce']:.3f}, KoLeo {first['koleo']:.3f} -> {last['koleo']:.3f}), "
                f"{last['s'] / 60:.1f} min"
            )


if __name__ == "__main__":
    main(sys.argv[1])
