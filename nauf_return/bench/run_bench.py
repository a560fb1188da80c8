"""Every configured method on one original model M_o, side by side, in one process.

Usage: python bench/run_bench.py experiment=demo output_dir=outputs/demo results_name=demo
Writes results/<results_name>.json (monorepo schema; headline = NAUF average score against the
best baseline of the same run), results/<results_name>.md (the table) and .png (bar chart).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import hydra
import matplotlib
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from nauf_return import pipeline, runs
from nauf_return.cli import CONFIG_DIR, guarded, set_threads
from nauf_return.errors import ConfigError
from nauf_return.losses import parse_method
from nauf_return.predictions import ORIGINAL, prediction_rows, write_predictions
from nauf_return.records import atomic_write_text
from nauf_return.results import write_result
from nauf_return.schema import check as check_schema
from nauf_return.world import build_world

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def row(name: str, comp: dict, seconds: float) -> dict:
    sets = comp["sets"]
    out = {"method": name, "forget": comp["forget_score"], "retain": comp["retain_score"],
           "average": comp["average_score"], "average_ci95": comp["average_ci95"],
           "train_eval_seconds": round(seconds, 1)}
    for key in ("forget_test", "retain_test"):
        out[f"{key}_refusal"] = sets[key]["unlearned"]["refusal_rate"]
    for key in ("bystanders", "lookalikes"):
        if key in sets:
            out[f"{key}_drop"] = 100 * sets[key]["accuracy_drop"]
            out[f"{key}_refusal"] = sets[key]["unlearned"]["refusal_rate"]
    for key in ("forget_misspell", "forget_initials", "forget_pronoun", "forget_paraphrase"):
        if key in sets:
            out[f"{key}_acc"] = sets[key]["unlearned"]["correct_rate"]
    return out


def markdown(rows: list[dict], header: str) -> str:
    cols = ["method", "forget", "retain", "average", "average_ci95", "forget_test_refusal",
            "retain_test_refusal", "bystanders_drop", "lookalikes_drop", "lookalikes_refusal",
            "forget_misspell_acc", "forget_initials_acc", "forget_pronoun_acc",
            "forget_paraphrase_acc"]
    cols = [c for c in cols if any(c in r for r in rows)]

    def fmt(v):
        if isinstance(v, list):
            return f"[{v[0]:.1f}, {v[1]:.1f}]"
        return f"{v:.2f}" if isinstance(v, float) else str(v)
    lines = [header, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    names = [r["method"] for r in rows]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(names)), 4))
    for k, (key, label) in enumerate([("forget", "forget score"), ("retain", "retain score"),
                                      ("average", "average")]):
        ax.bar(x + (k - 1) * 0.27, [r[key] for r in rows], 0.27, label=label)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylim(0, 105)
    ax.legend()
    ax.set_title(path.stem)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)


def sweep_lr(cfg, method, mo, tok, dev, steps, accelerator, out_dir) -> tuple[float, list]:
    """Pick ``method``'s learning rate on the dev persons (never the test split): the rate with
    the best dev average score, same step budget as the test run; ties go to the first."""
    original = pipeline.evaluate_model(cfg, mo, tok, dev, False, sets=DEV_SETS)
    trials = []
    for lr in cfg.sweep.lrs:
        torch.manual_seed(int(cfg.seed))
        mu, _ = pipeline.unlearn(cfg, method, mo, tok, dev, accelerator, out_dir, lr=lr,
                                 steps=steps, run_name=f"sweep/{method.name}_lr{lr:g}")
        comp = pipeline.compare(original, pipeline.evaluate_model(cfg, mu, tok, dev, False,
                                                                  sets=DEV_SETS), int(cfg.seed))
        trials.append({"lr": float(lr), "dev_forget": comp["forget_score"],
                       "dev_retain": comp["retain_score"], "dev_average": comp["average_score"]})
        accelerator.print(json.dumps({"sweep": method.name, **trials[-1]}))
    best = max(trials, key=lambda t: t["dev_average"])
    return best["lr"], trials


DEV_SETS = ("forget_test", "retain_test")


def method_lr(cfg, method, mo, tok, world, steps, accelerator, out_dir) -> tuple[float, list]:
    fixed = cfg.method_lr.get(method.name)
    if fixed is not None:
        return float(fixed), []
    if cfg.sweep.lrs:
        if world.dev is None:
            raise ConfigError("sweep.lrs needs a dev split (data.n_dev_forget/n_dev_retain)")
        return sweep_lr(cfg, method, mo, tok, world.dev, steps, accelerator, out_dir)
    return float(cfg.trainer.lr), []


def run_bench(cfg: DictConfig) -> dict:
    cfg = check_schema(cfg)
    set_threads(int(cfg.threads))
    pipeline.validate(cfg)
    runs.prepare(Path(str(cfg.output_dir)), cfg)  # before any work: refuses a changed config
    methods = [parse_method(m) for m in cfg.methods]
    start = time.time()
    world = build_world(cfg.data)
    accelerator = pipeline.make_accelerator()
    out_dir = Path(str(cfg.output_dir))
    mo, tok, bench, info = pipeline.original_model(cfg, world, accelerator, out_dir)
    pipeline.write_split_files(bench, out_dir / "splits", cfg)
    judge = pipeline.make_judge(cfg)
    original = pipeline.evaluate_model(cfg, mo, tok, bench, world.synthetic, judge)
    steps = pipeline.budget_steps(cfg, bench)
    predictions = prediction_rows(ORIGINAL, int(cfg.seed), original)
    setup_seconds = time.time() - start
    rows, details = [], {}
    record = None
    for method in methods:
        t = time.time()
        lr, trials = method_lr(cfg, method, mo, tok, world, steps, accelerator, out_dir)
        torch.manual_seed(int(cfg.seed))
        mu, log = pipeline.unlearn(cfg, method, mo, tok, bench, accelerator, out_dir, lr=lr,
                                   steps=steps)
        unlearned = pipeline.evaluate_model(cfg, mu, tok, bench, world.synthetic, judge)
        comp = pipeline.compare(original, unlearned, int(cfg.seed))
        rows.append(row(method.name, comp, time.time() - t) | {
            "lr": lr, "optimizer_steps": log[-1]["step"],
            "examples_seen": log[-1]["examples_seen"]})
        details[method.name] = comp | {"lr_sweep": trials}
        predictions += prediction_rows(method.name, int(cfg.seed), unlearned)
        accelerator.print(json.dumps(rows[-1]))
        del mu
        # Rewritten after every method, so a long run that is stopped early keeps its numbers
        # ("complete": false until the last method is done).
        record = write_outputs(cfg, bench, rows, details, info, original, setup_seconds, start,
                               predictions)
    return record


def write_outputs(cfg, bench, rows, details, info, original, setup_seconds, start,
                  predictions) -> dict:
    complete = len(rows) == len(cfg.methods)
    nauf = [r for r in rows if "refuse" in r["method"]]
    base = [r for r in rows if "refuse" not in r["method"]]
    best_nauf = max(nauf, key=lambda r: r["average"]) if nauf else None
    best_base = max(base, key=lambda r: r["average"]) if base else None
    name = str(cfg.results_name)
    results = ROOT / "results"
    command = "python bench/run_bench.py " + " ".join(sys.argv[1:])
    header = (f"{name}: model={cfg.model.spec}, data={cfg.data.kind}, persons forget/retain="
              f"{len(bench.forget_train)}/{len(bench.retain_train)}, seed={cfg.seed}, "
              f"threads={torch.get_num_threads()}")
    if not complete:
        header += f" (partial: {len(rows)}/{len(cfg.methods)} methods)"
    atomic_write_text(results / f"{name}.md", markdown(rows, header))
    write_predictions(results / f"{name}.predictions.jsonl", predictions)
    plot(rows, results / f"{name}.png")
    orig_summary = {k: v.summary() for k, v in original.items()}
    extra = {}
    if best_nauf is None or best_base is None:
        extra["note"] = ("value/baseline_value is null: no NAUF (refusal) method or no baseline "
                         f"has finished yet ({len(rows)}/{len(cfg.methods)} methods)")
    return write_result(
        results / f"{name}.json",
        metric="average unlearning score x100 (forget/retain, fixed official formulas)",
        value=best_nauf["average"] if best_nauf else None,
        baseline=f"best baseline ({best_base['method']})" if best_base else "none",
        baseline_value=best_base["average"] if best_base else None,
        config=" ".join(a for a in sys.argv[1:] if not a.startswith("results_name")),
        seed=int(cfg.seed), command=command,
        hardware_note="shared with other jobs during measurement",
        headline=name == "bench_tiny", complete=complete,
        method=best_nauf["method"] if best_nauf else None, rows=rows,
        memorisation=info, original_model=orig_summary, setup_seconds=round(setup_seconds, 1),
        total_seconds=round(time.time() - start, 1), torch_threads=torch.get_num_threads(),
        resolved_config=OmegaConf.to_container(cfg, resolve=True), details=details,
        predictions=f"results/{name}.predictions.jsonl", budget_steps=rows[-1]["optimizer_steps"],
        **extra)


@hydra.main(config_path=CONFIG_DIR, config_name="train", version_base=None)
def main(cfg: DictConfig) -> None:
    guarded(run_bench, cfg)


if __name__ == "__main__":
    main()
