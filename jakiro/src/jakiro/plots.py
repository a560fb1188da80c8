"""PNG plots of evaluation results (matplotlib, Agg backend)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig, path: Path) -> None:  # noqa: ANN001
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)


def plot_eval(result: dict, path: Path) -> None:
    """Speedup and τ per method (first benchmark) and the target latency curve t(n)."""
    bench = next(iter(result["benchmarks"].values()))
    names = list(bench)
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    ax[0].bar(names, [bench[n].get("speedup") or 0 for n in names])
    ax[0].axhline(1.0, color="k", lw=0.8)
    ax[0].set_title("speedup vs vanilla (same run)")
    ax[1].bar(names, [bench[n].get("tau") or 0 for n in names])
    ax[1].set_title("τ (tokens per target forward)")
    for a in ax[:2]:
        a.tick_params(axis="x", rotation=45)
    curve = result["latency_ms"]
    ns = sorted(int(n) for n in curve)
    ax[2].plot(ns, [curve[n] if n in curve else curve[str(n)] for n in ns], marker="o")
    ax[2].set_xlabel("new tokens n")
    ax[2].set_ylabel("ms")
    ax[2].set_title("target latency t(n)")
    _save(fig, path)


def plot_budget(rows: list[dict], path: Path) -> None:
    """τ and speedup vs tree budget (total_token) per method."""
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for m in sorted({r["method"] for r in rows}):
        pts = sorted((r["total_token"], r["tau"], r["speedup"]) for r in rows if r["method"] == m)
        ax[0].plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=m)
        ax[1].plot([p[0] for p in pts], [p[2] for p in pts], marker="o", label=m)
    ax[0].set_title("τ vs tree budget")
    ax[1].set_title("speedup vs tree budget")
    ax[1].axhline(1.0, color="k", lw=0.8)
    for a in ax:
        a.set_xlabel("total_token")
        a.legend()
    _save(fig, path)


def plot_tau_curve(rows: list[dict], path: Path) -> None:
    """τ on the dev split vs self-distilled training tokens, one line per method."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in sorted({r["method"] for r in rows}):
        pts = [r for r in rows if r["method"] == m]
        ax.plot([r["feature_tokens"] for r in pts], [r["tau"] for r in pts], "o-", label=m)
    ax.set_xscale("log")
    ax.set_xlabel("self-distilled training tokens (target features)")
    ax.set_ylabel("τ on the dev split")
    ax.legend()
    _save(fig, path)
