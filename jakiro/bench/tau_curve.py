"""Data scaling: τ on a held-out dev split of self-distilled conversations vs the number of
self-distilled tokens the heads were trained on (τ and acceptance do not depend on CPU load).

The last ``--dev`` rows of the self-distilled file are the dev split (their first user turns
become a question file); heads are trained on nested subsets of the other rows (same shuffle
seed, first N), ``--epochs`` passes each, then decoded greedily on the dev questions.

    python bench/tau_curve.py --data runs/selfdistill/chitchat448_bf16.jsonl.gz \
        --sizes 96,192,400 --dev 32 --precision bf16  -> results/tau_curve_<precision>.json + PNG
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]


def cfg(name: str, overrides: list[str]):  # noqa: ANN201
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


def split(data: Path, dev: int, work: Path) -> tuple[Path, Path, int]:
    """Train rows -> ``train.jsonl.gz``; dev rows' first user turns -> ``dev/question.jsonl``."""
    from jakiro.atomic import write_text_atomic
    from jakiro.data import read_rows
    from jakiro.selfdistill import write_rows

    rows = read_rows(data, "regenerate it with python -m jakiro.selfdistill")
    if dev >= len(rows):
        raise SystemExit(f"--dev {dev} leaves no training rows in {data} ({len(rows)} rows)")
    train, held = rows[:-dev], rows[-dev:]
    train_file, q_file = work / "train.jsonl.gz", work / "dev" / "question.jsonl"
    write_rows(train_file, train)
    write_text_atomic(q_file, "".join(
        json.dumps({"question_id": r["id"], "category": "dev_selfdistill",
                    "turns": [r["conversations"][0]["value"]]}) + "\n" for r in held))
    return train_file, q_file, len(train)


def write_summary(a: argparse.Namespace, methods: list[str], rows: list[dict]) -> None:
    from jakiro.atomic import write_text_atomic
    from jakiro.pipeline import hardware, today
    from jakiro.plots import plot_tau_curve

    from jakiro import eval as ev

    first = {m: [x for x in rows if x["method"] == m] for m in methods[1:]}
    result = {
        "paper": ev.PAPER,
        "metric": f"tau on the dev split vs training conversations ({methods[1]}, {a.precision})",
        "value": first[methods[1]][-1]["tau"],
        "baseline": f"tau at the smallest size ({a.sizes.split(',')[0]} conversations)",
        "baseline_value": first[methods[1]][0]["tau"],
        "config": f"tau_curve data={a.data} dev={a.dev} epochs={a.epochs} max_new={a.max_new}",
        "seed": 0, "hardware": hardware(1), "command": " ".join(sys.argv), "date": today(),
        "note": "tau, alpha_k and identity rates do not depend on CPU load (no timing here)",
        "rows": rows,
    }
    path = Path(f"{a.results}/tau_curve_{a.precision}.json")
    write_text_atomic(path, json.dumps(result, indent=1, default=float))
    plot_tau_curve(rows, path.with_suffix(".png"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--sizes", default="96,192,400")
    ap.add_argument("--dev", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--max-new", type=int, default=48)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="bf16")
    ap.add_argument("--heads", default="jakiro,eagle")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "tau_curve")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--results", default="results")
    a = ap.parse_args()
    from jakiro import eval as ev
    from jakiro import train as tr

    work = a.runs / a.data.name.split(".")[0]
    train_file, q_file, n_train = split(a.data, a.dev, work)
    heads = a.heads.split(",")
    methods = ["vanilla"] + [{"jakiro": "jakiro", "eagle": "eagle2"}[h] for h in heads]
    rows = []
    for n in (int(x) for x in a.sizes.split(",")):
        if n > n_train:
            raise SystemExit(f"--sizes: {n} > {n_train} training rows")
        steps = math.ceil(a.epochs * n / 4)
        common = [f"model.spec={a.model}", f"data.conversations={train_file.resolve()}", f"data.num_conversations={n}",
                  "data.max_len=160", f"train.max_steps={steps}", "train.epochs=1000",
                  f"train.save_every={steps}", f"train.warmup_steps={min(20, steps // 10)}"]
        summaries = {h: tr.run(cfg("train", [f"head={h}", f"out_dir={work / f'n{n}' / h}",
                                             *common])) for h in heads}
        out = f"{a.results}/tau_curve/{a.precision}_n{n}.json"
        r = ev.run(cfg("eval", [f"model.spec={a.model}",
            f"precision={a.precision}", "eval.hf_peers=false", "~eval.benchmarks",
            f"+eval.benchmarks.dev_selfdistill={q_file.resolve()}",
            f"eval.num_questions={a.dev}", f"eval.max_new_tokens={a.max_new}",
            f"eval.methods=[{','.join(methods)}]", "eval.latency_ns=[1,24]",
            "eval.latency_reps=1", f"eval.heads.jakiro={work / f'n{n}' / 'jakiro' / 'head'}",
            f"eval.heads.eagle={work / f'n{n}' / 'eagle' / 'head'}", f"eval.out={out}",
            f"eval.command='{' '.join(sys.argv)}'", "eval.config_name='bench: tau_curve'"]))
        bench = r["benchmarks"]["dev_selfdistill"]
        for h, m in zip(heads, methods[1:], strict=True):
            head_cfg = json.loads((work / f"n{n}" / h / "head" / "head_config.json").read_text())
            rows.append({"method": m, "conversations": n, "steps": steps,
                         "feature_tokens": head_cfg.get("num_tokens"),
                         "tau": bench[m]["tau"], "alpha_k": bench[m]["alpha_k"],
                         "identity_rate": bench[m]["identity_rate"],
                         "divergence_margins": [d["margin"] for d in bench[m]["divergences"]
                                                if d],
                         "train_final": summaries[h].get("final")})
        # Written after every size, so a stopped run keeps the sizes it finished.
        write_summary(a, methods, rows)
    print(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
