"""PNG of the DDIM step-count study: quality, diversity and latent time vs steps."""

from __future__ import annotations

import os
import re
from pathlib import Path


def plot_ddim_study(result: dict, path: str | Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[int, dict]]] = {}
    for key, row in result["rows"].items():
        m = re.search(r"/study/ddim(\d+)-(\w+)-\w+$", key)
        if m:
            series.setdefault(m.group(2), []).append((int(m.group(1)), row))
    if not series:
        raise ValueError("plot: the result has no eval.ddim_study rows to plot")
    panels = [("bleu1_plato_nltk_m7", "BLEU-1 (PLATO NLTK m7)"),
              ("distinct2_inter", "Distinct-2 (corpus)"),
              ("unique_per_context", "unique responses / context"),
              ("latent_ms_per_response", "latent sampling ms / response")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for ax, (metric, title) in zip(axes, panels, strict=True):
        for spacing, pts in sorted(series.items()):
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1].get(metric, float("nan")) for p in pts],
                    marker="o", label=spacing)
        ax.set_xscale("log")
        ax.set_xlabel("DDIM steps")
        ax.set_title(title, fontsize=9)
    axes[0].legend(title="spacing", fontsize=8)
    return _save(fig, path)


def plot_quality_diversity(result: dict, path: str | Path) -> Path:
    """One PNG: BLEU-1 against Distinct-2 and against self-BLEU-2 for every decoding row,
    one colour per model ("<model>/<setting>" row keys), each point labelled."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    if not rows:
        raise ValueError("plot: the result has no rows")
    panels = [("distinct2_inter", "Distinct-2 (corpus, first sample)"),
              ("self_bleu2", "self-BLEU-2 across K samples (lower = more diverse)")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colours: dict[str, str] = {}
    for ax, (metric, title) in zip(axes, panels, strict=True):
        seen: set[str] = set()
        for key, row in rows.items():
            model, setting = key.split("/", 1)
            if metric not in row:
                continue
            colour = colours.setdefault(model, f"C{len(colours)}")
            ax.scatter(row[metric], row["bleu1_plato_nltk_m7"], color=colour,
                       label=None if model in seen else model)
            seen.add(model)
            ax.annotate(setting, (row[metric], row["bleu1_plato_nltk_m7"]), fontsize=6)
        ax.set_xlabel(title)
        ax.set_ylabel("BLEU-1 (PLATO NLTK m7)")
    axes[0].legend(fontsize=8)
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    """tight layout, write to a temp name, rename into place (never a half-written PNG)."""
    import matplotlib.pyplot as plt
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path
