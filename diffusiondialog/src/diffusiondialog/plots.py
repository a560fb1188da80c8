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
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path
