"""Regenerate the paper table in README.md from each subproject's results/*.json.

The table sits between the markers below, so the numbers in the README never drift from the
committed results. `--check` exits 1 when the README is out of date instead of rewriting it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- papers:start -->", "<!-- papers:end -->"
PAPER_INFO = {
    "jakiro": ("Jakiro: Boosting Speculative Decoding with Decoupled Multi-Head via MoE", "2502.06282"),
    "kangaroo": ("Kangaroo: Lossless Self-Speculative Decoding via Double Early Exiting", "2404.18911"),
    "double_rounding": ("Nearly Lossless Adaptive Bit Switching (Double Rounding)", "2502.01199"),
    "ghostnetv3": ("GhostNetV3: Exploring the Training Strategies for Compact Models", "2404.11202"),
    "nauf_return": ("Learning to Refuse: Towards Mitigating Privacy Risks in LLMs (RETURN / NAUF)",
                    "2407.10058"),
    "probing_mia": ("Probing Language Models for Pre-training Data Detection", "2406.01333"),
    "diffusiondialog": ("DiffusionDialog: A Diffusion Model for Diverse Dialog Generation with "
                        "Latent Space", "2404.06760"),
    "sda": ("Controllable and Diverse Data Augmentation with Large Language Model for "
            "Low-Resource Open-Domain Dialogue Generation (SDA)", "2404.00361"),
    "vsc_sam": ("A Similarity Alignment Model for Video Copy Segment Matching", "2305.15679"),
    "edgs": ("Grasp What You Want: Embodied Dexterous Grasping System Driven by Your Voice",
             "2412.10694"),
}


def headline(folder: Path) -> dict | None:
    """The results file flagged "headline": true, else results/demo.json, else None."""
    files = sorted((folder / "results").glob("*.json"))
    loaded = []
    for path in files:
        try:
            loaded.append(json.loads(path.read_text(encoding="utf-8")))
        except json.JSONDecodeError:
            continue
    flagged = [r for r in loaded if isinstance(r, dict) and r.get("headline") is True]
    if flagged:
        return flagged[0]
    demo = folder / "results" / "demo.json"
    return json.loads(demo.read_text(encoding="utf-8")) if demo.is_file() else None


def number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def row(name: str) -> str:
    title, arxiv = PAPER_INFO[name]
    folder = ROOT / name
    implemented = (folder / "pyproject.toml").is_file()
    status = "implemented" if implemented else "not implemented yet"
    result = headline(folder) if implemented else None
    measured = baseline = "-"
    if result:
        measured = f"{result.get('metric')}: {number(result.get('value'))}"
        baseline = f"{result.get('baseline')}: {number(result.get('baseline_value'))}"
    return (f"| [`{name}/`]({name}/) | [{title}](https://arxiv.org/abs/{arxiv}) | {status} "
            f"| {measured} | {baseline} |")


def table(papers: list[str]) -> str:
    lines = ["| folder | paper | status | headline result (measured here) | baseline (same run) |",
             "|---|---|---|---|---|"]
    return "\n".join(lines + [row(name) for name in papers])


def render(readme: str, papers: list[str]) -> str:
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the markers {START} ... {END}")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table(papers)}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("readme", type=Path)
    parser.add_argument("papers", nargs="+")
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is stale")
    args = parser.parse_args()
    unknown = [p for p in args.papers if p not in PAPER_INFO]
    if unknown:
        raise SystemExit(f"no title/arXiv id known for {unknown}; add them to PAPER_INFO")
    old = args.readme.read_text(encoding="utf-8")
    new = render(old, args.papers)
    if args.check:
        if new != old:
            print(f"{args.readme} is out of date with results/*.json: run `make readme`")
            return 1
        return 0
    tmp = args.readme.with_suffix(".md.tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(args.readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
