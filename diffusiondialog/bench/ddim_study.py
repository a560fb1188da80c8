"""Bench: thread setting, DiffusionDialog vs the BART baseline on one budget, DDIM-step study.

Trains both tiny models on chitchat with identical data, steps, batch and optimiser (the two
trainings run as two single-thread processes side by side), then decodes the same test contexts
with both in one process and writes results/bench.json (+ results/ddim_steps.png).
Usage: python bench/ddim_study.py [--steps N] [--contexts N] [--k K]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]


def train_both(steps: int, runs: Path, extra: list[str]) -> dict[str, float]:
    procs, t0 = {}, time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for kind in ("diffusiondialog", "bart"):
        cmd = [sys.executable, "-m", "diffusiondialog.train", f"model={kind}",
               f"trainer.steps={steps}", f"trainer.output_dir={runs / kind}",
               "trainer.save_every=250", *extra]
        log = (runs / f"{kind}.log").open("w")
        procs[kind] = (subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log), log)
    wall: dict[str, float] = {}
    while len(wall) < len(procs):  # poll so each run gets its own wall time
        for kind, (proc, log) in procs.items():
            if kind in wall or proc.poll() is None:
                continue
            log.close()
            if proc.returncode != 0:
                raise RuntimeError(f"training {kind} failed; see {runs / (kind + '.log')}")
            wall[kind] = time.perf_counter() - t0
        time.sleep(1)
    return wall


def thread_timing(checkpoint: Path) -> dict:
    """Seconds per training step of the tiny model with 1 vs 2 torch threads."""
    from diffusiondialog.batching import collate
    from diffusiondialog.checkpoint import load_checkpoint
    from diffusiondialog.data import load_dataset

    model, tok, _ = load_checkpoint(checkpoint)
    pairs = load_dataset("chitchat", max_context=5, seed=0)["train"][:32]
    batch = collate(tok, pairs, 64, 32, model.spec.max_turn)
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    out = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        times = []
        for _ in range(6):
            t = time.perf_counter()
            model(batch)["loss"].backward()
            opt.step()
            opt.zero_grad()
            times.append(time.perf_counter() - t)
        out[f"train_step_s_{threads}_threads"] = sorted(times[1:])[2]  # median of 5
    torch.set_num_threads(1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--contexts", type=int, default=100)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--runs", default="runs/bench")
    ap.add_argument("--skip-train", action="store_true", help="reuse finished checkpoints")
    args = ap.parse_args()
    torch.set_num_threads(1)
    runs = ROOT / args.runs
    runs.mkdir(parents=True, exist_ok=True)
    command = "make bench BENCH_ARGS='" + " ".join(sys.argv[1:]) + "'"
    wall = {} if args.skip_train else train_both(args.steps, runs, [])
    threads = thread_timing(runs / "diffusiondialog" / "checkpoint")
    overrides = [f"eval.checkpoints.diffusiondialog={runs / 'diffusiondialog' / 'checkpoint'}",
                 f"eval.checkpoints.bart={runs / 'bart' / 'checkpoint'}",
                 f"eval.num_contexts={args.contexts}", f"eval.k={args.k}",
                 "eval.ddim_study=[1,5,10,50]"]
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose(config_name="eval", overrides=overrides)
    from diffusiondialog.evaluation import evaluate, write_result
    from diffusiondialog.plots import plot_ddim_study

    t0 = time.perf_counter()
    result = evaluate(cfg)
    result.update(headline=True, command=command, train_steps=args.steps, train_wall_s=wall,
                  eval_wall_s=time.perf_counter() - t0, thread_timing=threads,
                  threads_note="training and decoding ran with torch.set_num_threads(1)")
    write_result(result, ROOT / "results" / "bench.json")
    plot_ddim_study(result, ROOT / "results" / "ddim_steps.png")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
