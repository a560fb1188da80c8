"""Results assembly: per-method test metrics with bootstrap intervals, the headline comparison
(probe vs the best black-box attack, both selected on dev), raw scores and ROC plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from probing_mia import metrics
from probing_mia.corpus import Corpus

BLACK_BOX = ("loss", "zlib", "lowercase", "ref", "mink", "minkpp", "neighbor")


def method_table(attack_out: dict, probe_out: dict, corpus: Corpus, n_boot: int,
                 fprs: list[float], seed: int) -> dict:
    """method -> {"test": bootstrap metrics, "dev_auc": float|None, ...}."""
    dev_y = [e.label for e in corpus.dev]
    test_y = [e.label for e in corpus.test]
    table = {}
    for name, out in attack_out.items():
        table[name] = {"test": metrics.bootstrap(test_y, out["test"], n_boot, seed, fprs),
                       "dev_auc": None if out["dev"] is None else metrics.auc(dev_y, out["dev"]),
                       "k": out["k"]}
    for mode, result in probe_out["results"].items():
        table[f"probe_{mode}"] = {
            "test": metrics.bootstrap(test_y, result.test_scores, n_boot, seed, fprs),
            "dev_auc": result.dev_auc[result.layer], "layer": result.layer,
            "dev_auc_per_layer": result.dev_auc, "test_auc_per_layer": result.test_auc,
            "train_acc_per_layer": result.train_acc}
    return table


def best_attack(table: dict) -> str:
    """The black-box attack with the highest DEV AUC (never chosen on test)."""
    candidates = [n for n in BLACK_BOX if n in table]
    return max(candidates, key=lambda n: table[n]["dev_auc"])


def scores_by_method(attack_out: dict, probe_out: dict) -> dict[str, np.ndarray]:
    out = {name: np.asarray(v["test"]) for name, v in attack_out.items()}
    out.update({f"probe_{m}": r.test_scores for m, r in probe_out["results"].items()})
    return out


def write_raw_scores(path: Path, corpus: Corpus, scores: dict[str, np.ndarray]) -> None:
    """One JSON line per test item: label, text head, every method's score (re-scorable)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as handle:
        for i, example in enumerate(corpus.test):
            row = {"label": example.label, "text": example.text[:80]}
            row.update({name: float(s[i]) for name, s in scores.items()})
            handle.write(json.dumps(row) + "\n")
    tmp.replace(path)


def roc_png(path: Path, labels, scores: dict[str, np.ndarray], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, s in scores.items():
        fpr, tpr, _ = metrics.roc(labels, s)
        ax.plot(fpr, tpr, label=f"{name} ({metrics.auc(labels, s):.3f})",
                lw=2 if name.startswith("probe") else 1)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="FPR", ylabel="TPR", title=title)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    tmp = path.with_name(".tmp_" + path.name)
    fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    tmp.replace(path)
