"""Print a markdown table of one eval results JSON (what the README tables are copied from)."""

from __future__ import annotations

import json
import sys


def fmt(x, nd: int = 2) -> str:  # noqa: ANN001
    return "-" if x is None else f"{x:.{nd}f}"


def main(path: str) -> None:
    r = json.loads(open(path).read())
    for bench, methods in r["benchmarks"].items():
        print(f"\n{bench} ({r['num_questions']} questions, max_new_tokens={r['max_new_tokens']}, "
              f"T={r['sampling']['temperature']}, tree={r['tree']}):\n")
        print("| method | tokens/s | speedup | τ | α_1..α_k | draft/verify/other time | "
              "draft fwd/cycle | identical |")
        print("|---|---|---|---|---|---|---|---|")
        for m, s in methods.items():
            ts = s["time_split"]
            split = "-" if ts["draft"] is None else (
                f"{ts['draft']:.0%}/{ts['verify']:.0%}/{1 - ts['draft'] - ts['verify']:.0%}")
            alpha = ", ".join(f"{a:.2f}" for a in s["alpha_k"]) or "-"
            print(f"| {m} | {fmt(s['tokens_per_s'])} | {fmt(s['speedup'])} | {fmt(s['tau'])} | "
                  f"{alpha} | {split} | {fmt(s['draft_forwards_per_cycle'], 1)} | "
                  f"{fmt(s['identity_rate'], 2)} |")


if __name__ == "__main__":
    main(sys.argv[1])
