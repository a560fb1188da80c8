"""PNG figures for the results JSON (matplotlib, headless)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig, path: Path) -> None:  # noqa: ANN001
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.tight_layout()
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def plot_eval(results: dict, path: Path, contention: bool = True) -> None:
    """tau and speedup per method, one group per (temperature, benchmark)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    speed = "speedup vs faster baseline" + (" (under CPU contention, not a headline)"
                                            if contention else "")
    for ax, key, title in ((axes[0], "tau", "tau (tokens per target forward)"),
                           (axes[1], "speedup", speed)):
        groups = list(results)
        methods = sorted({m for b in results.values() for m in b if not m.startswith("_")})
        width = 0.8 / max(len(methods), 1)
        for i, m in enumerate(methods):
            vals = [results[g].get(m, {}).get(key) or 0 for g in groups]
            ax.bar([j + i * width for j in range(len(groups))], vals, width, label=m)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(groups))], groups, fontsize=8)
        ax.set_title(title, fontsize=9)
    axes[1].axhline(1.0, color="k", lw=0.8)
    axes[0].legend(fontsize=7)
    _save(fig, path)


def plot_sweep(rows: list[dict], path: Path) -> None:
    """tau and speedup over the (l, eta, gamma) sweep."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    labels = [f"l={r['exit_layer']} eta={r['eta']} g={r['gamma']}" for r in rows]
    for ax, key in ((axes[0], "tau"), (axes[1], "speedup")):
        ax.bar(range(len(rows)), [r.get(key) or 0 for r in rows])
        ax.set_xticks(range(len(rows)), labels, rotation=70, fontsize=6)
        ax.set_title(key, fontsize=9)
    _save(fig, path)


def plot_latency(curves: dict, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, curve in curves.items():
        xs = sorted(int(k) for k in curve)
        ax.plot(xs, [curve[k] if k in curve else curve[str(k)] for k in xs], marker="o",
                label=name)
    ax.set_xlabel("new tokens n (300-token cache)")
    ax.set_ylabel("ms per forward")
    ax.legend(fontsize=8)
    _save(fig, path)
