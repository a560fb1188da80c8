"""The CPU study behind the README bench tables (run on an idle machine: `make bench`).

1. For each exit layer l in --exit-layers: train an adapter (bench data: --conversations
   self-distilled chit-chat answers, --steps steps) with kangaroo-train into runs/bench_l<l>.
2. For the first l: every method + HF peers on every question set in --data-dir, T=0 and T=1,
   bf16 -> results/bench_main.json (+ .png, raw outputs beside).
3. (l, eta, gamma) sweep of the chain on MT-bench -> results/bench_sweep.json + .png.
4. t(n) of the full model and of layers [l, N), fp32 and bf16 -> results/bench_latency.json + .png.
Every step is one process per command line below, so each JSON carries its own command.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kangaroo.assets import load_target  # noqa: E402
from kangaroo.latency import latency_curve  # noqa: E402
from kangaroo.pipeline import hardware, today  # noqa: E402
from kangaroo.plots import plot_latency, plot_sweep  # noqa: E402
from kangaroo.run_folder import write_text_atomic  # noqa: E402

SETS = ("mt_bench", "humaneval", "gsm8k", "alpaca", "sum", "qa")
PAPER = "Kangaroo: Lossless Self-Speculative Decoding via Double Early Exiting (arXiv 2404.18911)"


def sh(args: list[str], data_dir: str) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, cwd=ROOT, check=True, env={**os.environ, "KANGAROO_DATA": data_dir})


def train_args(a: argparse.Namespace, layer: int) -> list[str]:
    return [sys.executable, "-m", "kangaroo.train", "experiment=tiny", f"name=bench_l{layer}",
            f"model.exit_layer={layer}", f"data.num_conversations={a.conversations}",
            f"train.max_steps={a.steps}", f"threads={a.threads}"]


def eval_args(a: argparse.Namespace, layer: int, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "kangaroo.eval", "experiment=tiny", f"name=bench_l{layer}",
            f"model.exit_layer={layer}", f"data.num_conversations={a.conversations}",
            f"train.max_steps={a.steps}", "model.dtype=bfloat16", f"threads={a.threads}",
            f"eval.num_questions={a.questions}", f"decode.max_new_tokens={a.max_new}",
            "eval.under_contention=false", *extra]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--exit-layers", default="2,4,6")
    p.add_argument("--conversations", type=int, default=256)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--questions", type=int, default=10)
    p.add_argument("--max-new", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--etas", default="0.2,0.4,0.6,0.8")
    p.add_argument("--gammas", default="2,4,6")
    a = p.parse_args()
    layers = [int(x) for x in a.exit_layers.split(",")]
    for layer in layers:
        sh(train_args(a, layer), a.data_dir)
    sets = {s: str(Path(a.data_dir) / s / "question.jsonl") for s in SETS}
    bench = "{" + ",".join(f"{k}:{v}" for k, v in sets.items()) + "}"
    sh(eval_args(a, layers[0], [
        "~eval.benchmarks", f"+eval.benchmarks={bench}", "eval.max_turns=2", "eval.temperatures=[0.0,1.0]",
        "eval.methods=[vanilla,kangaroo,kangaroo_tree,early_exit,early_exit_tree,hf_generate,"
        "prompt_lookup]", "eval.out=results/bench_main.json",
        "eval.command='make bench (bench/cpu_bench.py: main)'"]), a.data_dir)
    rows = []
    for layer in layers:
        for eta in a.etas.split(","):
            for gamma in a.gammas.split(","):
                out = f"results/sweep/l{layer}_eta{eta}_g{gamma}.json"
                sh(eval_args(a, layer, [  # experiment=tiny's benchmark: MT-bench
                    "eval.max_turns=1",
                    f"decode.eta={eta}", f"decode.gamma={gamma}", f"eval.out={out}",
                    "eval.methods=[vanilla,kangaroo,early_exit]",
                    "eval.command='make bench (bench/cpu_bench.py: sweep)'"]), a.data_dir)
                block = json.loads((ROOT / out).read_text())["results"]["T=0/mt_bench"]
                rows.append({"exit_layer": layer, "eta": float(eta), "gamma": int(gamma),
                             "tau": block["kangaroo"]["tau"],
                             "speedup": block["kangaroo"]["speedup"],
                             "no_adapter_tau": block["early_exit"]["tau"]})
    best = max(rows, key=lambda r: r["speedup"] or 0)
    torch.set_num_threads(a.threads)
    curves = {}
    for dtype in ("float32", "bfloat16"):
        target = load_target("smollm2-135m-instruct", dtype)
        for layer in layers[:1]:
            c = latency_curve(target.model, layer, [1, 2, 4, 8, 12, 16, 24, 32])
            curves[f"full {dtype}"] = c["full"]
            curves[f"[{layer}, N) {dtype}"] = c["verify_block"]
    common = {"paper": PAPER, "seed": 0, "hardware": hardware(a.threads), "date": today(),
              "command": "make bench " + " ".join(sys.argv[1:]), "config": vars(a)}
    write_text_atomic(ROOT / "results/bench_sweep.json", json.dumps({
        **common, "metric": "speedup of the best (l, eta, gamma) chain, MT-bench T=0, bf16",
        "value": best["speedup"], "baseline": "faster of vanilla and HF generate",
        "baseline_value": 1.0, "rows": rows}, indent=1))
    write_text_atomic(ROOT / "results/bench_latency.json", json.dumps({
        **common, "metric": "t(12) / t(1), full model, bf16", "value":
        curves["full bfloat16"][12] / curves["full bfloat16"][1], "baseline": "fp32",
        "baseline_value": curves["full float32"][12] / curves["full float32"][1],
        "latency_ms": curves}, indent=1))
    plot_sweep(rows, ROOT / "results/bench_sweep.png")
    plot_latency(curves, ROOT / "results/bench_latency.png")


if __name__ == "__main__":
    main()
