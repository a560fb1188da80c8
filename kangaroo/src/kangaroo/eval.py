"""`kangaroo-eval`: every method on the question files, same run, results JSON + outputs + PNG.

    kangaroo-eval experiment=tiny eval.out=results/demo.json
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig
from tqdm import tqdm

from kangaroo.adapter import load_adapter
from kangaroo.assets import DTYPES, check_exit_layer, load_target
from kangaroo.data import load_questions
from kangaroo.evaluation import SPEC_METHODS, Runner, evaluate
from kangaroo.pipeline import hardware, resolved, run_main, set_threads, today
from kangaroo.plots import plot_eval
from kangaroo.run_folder import write_text_atomic
from kangaroo.schema import ConfigError, Root

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")
PAPER = "Kangaroo: Lossless Self-Speculative Decoding via Double Early Exiting (arXiv 2404.18911)"
CONTENTION = ("speed numbers (tokens_per_s, seconds, speedup, time_split) were measured under "
              "CPU contention, not a headline; tau, compression rate and identity rate do not "
              "depend on load")
IDLE = "speed numbers measured with eval.under_contention=false (see load_average)"


def code_version() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).parent).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def speedups(block: dict) -> None:
    """Speedup of every method against the faster of our vanilla loop and HF generate."""
    base_names = [m for m in ("vanilla", "hf_generate") if m in block]
    base = max(block[m]["tokens_per_s"] or 0 for m in base_names)
    block["_baseline"] = {"methods": base_names, "tokens_per_s": base}
    for m, s in block.items():
        if not m.startswith("_"):
            s["speedup"] = round(s["tokens_per_s"] / base, 4) if base and s["tokens_per_s"] \
                else None


def run(cfg: DictConfig) -> dict:
    plain, c = resolved(cfg, Root)
    load_before = os.getloadavg()
    e = c.eval
    if not e.benchmarks:
        raise ConfigError("config key 'eval.benchmarks': needs at least one question file")
    questions = {name: load_questions(path, e.num_questions) for name, path in
                 e.benchmarks.items()}  # every file validated before any model work
    threads = set_threads(c.threads)
    target = load_target(c.model.spec, c.model.dtype)
    check_exit_layer(c.model.exit_layer, target.model)
    adapter = None
    if any(SPEC_METHODS.get(m, ("",))[0] == "adapter" for m in e.methods):
        adapter = load_adapter(e.adapter, target.model, c.model.exit_layer,
                               DTYPES[c.model.dtype])
    runner = Runner(target, c.model.exit_layer, adapter, c.decode,
                    hf_peers=any(m in e.methods for m in ("hf_generate", "prompt_lookup")))
    warm = load_questions(next(iter(e.benchmarks.values())), 1)[0].turns[0]
    warm_ids = target.tokenizer(warm)["input_ids"][:32]
    for m in e.methods:  # first calls pay one-time costs (allocations, kernels)
        runner.run(m, warm_ids, dataclasses.replace(c.decode, max_new_tokens=4), 0)
    results: dict = {}
    outputs: list = []
    total = sum(min(len(q.turns), e.max_turns) for qs in questions.values() for q in qs)
    with tqdm(total=total * len(e.temperatures), desc="eval", unit="turn") as bar:
        for temp in e.temperatures:
            dc = dataclasses.replace(c.decode, temperature=temp)
            for name, qs in questions.items():
                stats = evaluate(runner, qs, e.methods, dc, e.max_turns, e.seed, bar)
                block = {m: s.summary() for m, s in stats.items()}
                speedups(block)
                results[f"T={temp:g}/{name}"] = block
                outputs += [{"temperature": temp, "benchmark": name, "method": m, **o}
                            for m, s in stats.items() for o in s.outputs]
    first = results[f"T={e.temperatures[0]:g}/{next(iter(questions))}"]
    lead = next((m for m in ("kangaroo", "kangaroo_tree") if m in first), e.methods[0])
    base = "early_exit" if "early_exit" in first else "vanilla"
    out = Path(e.out)
    report = {
        "paper": PAPER,
        "metric": f"tau (tokens per target forward) of {lead}, {next(iter(questions))}, "
                  f"T={e.temperatures[0]:g}",
        "value": first[lead]["tau"], "baseline": f"{base} (no adapter)" if base != "vanilla"
        else "vanilla", "baseline_value": first[base]["tau"],
        "speedup_note": CONTENTION if e.under_contention else IDLE,
        "load_average_1_5_15min": {"start": load_before, "end": os.getloadavg()},
        "results": results,
        "adapter_parameters": sum(p.numel() for p in adapter.parameters()) if adapter else None,
        "target_parameters": sum(p.numel() for p in target.model.parameters()),
        "config": plain, "seed": e.seed, "hardware": hardware(threads),
        "command": e.command or " ".join(["kangaroo-eval", *sys.argv[1:]]),
        "date": today(), "code_version": code_version(), "torch": torch.__version__,
        "outputs": out.with_suffix(".outputs.jsonl").name,
    }
    write_text_atomic(out.with_suffix(".outputs.jsonl"),
                      "".join(json.dumps(o) + "\n" for o in outputs))
    write_text_atomic(out, json.dumps(report, indent=1))
    plot_eval(results, out.with_suffix(".png"), e.under_contention)
    print(json.dumps({k: report[k] for k in ("metric", "value", "baseline", "baseline_value")}))
    return report


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def _main(cfg: DictConfig) -> None:
    run_main("kangaroo-eval", lambda: run(cfg))


def main() -> None:
    _main()


if __name__ == "__main__":
    main()
