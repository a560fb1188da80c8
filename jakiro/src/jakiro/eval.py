"""`jakiro-eval`: τ, speedup, α_k, time split and identity rate on question.jsonl benchmarks."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from jakiro.assets import resolve_spec
from jakiro.atomic import write_text_atomic
from jakiro.checkpoint import CheckpointError, load_head
from jakiro.config import ConfigError, EvalRun, EvalSection, parse
from jakiro.data import DataError, load_questions
from jakiro.decode import DecodeConfig, check_budget
from jakiro.drafters import Drafter, HeadDrafter, TreeConfig
from jakiro.evaluation import Method, chat_prompt, hf_peers, int8_vanilla, run_benchmark
from jakiro.latency import auto_total_token, latency_curve
from jakiro.pipeline import (
    DTYPES,
    hardware,
    load_target,
    set_threads,
    today,
)
from jakiro.plots import plot_eval
from jakiro.sampling import SamplingConfig

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")
PAPER = "Jakiro: Boosting Speculative Decoding with Decoupled Multi-Head via MoE (arXiv 2502.06282)"

# name -> (head key, TreeConfig overrides)
METHODS = {
    "eagle2": ("eagle", {"hybrid": False}),
    "jakiro": ("jakiro", {"hybrid": True, "parent_rule": "fixed"}),
    "jakiro_official_parent": ("jakiro", {"hybrid": True, "parent_rule": "official"}),
    "jakiro_no_hybrid": ("jakiro", {"hybrid": False}),
    "jakiro_star": ("jakiro", {"hybrid": False, "candidates": "per_expert"}),
}
# "<method>_full_vocab" runs <method> with draft logits over the full vocabulary, so the
# draft-vocabulary ablation compares both variants within one run.
FULL_VOCAB = "_full_vocab"


def split_method(name: str) -> tuple[str, bool]:
    """'jakiro_full_vocab' -> ('jakiro', True); 'jakiro' -> ('jakiro', False)."""
    if name.endswith(FULL_VOCAB) and name[: -len(FULL_VOCAB)] in METHODS:
        return name[: -len(FULL_VOCAB)], True
    return name, False


def build_methods(ev: EvalSection, target, tree: TreeConfig,  # noqa: ANN001 - assets.Target
                  dtype: torch.dtype) -> list[Method]:
    heads = {}
    for name in ev.methods:
        if name != "vanilla" and split_method(name)[0] not in METHODS:
            raise ConfigError(f"eval.methods: unknown method {name!r}; expected vanilla or one "
                              f"of {sorted(METHODS)} (optionally with suffix {FULL_VOCAB!r})")
    for key, path in ev.heads.items():
        if any(METHODS.get(split_method(m)[0], ("",))[0] == key for m in ev.methods):
            head, vocab_ids, meta = load_head(Path(path), target.model.cfg)
            heads[key] = (head.to(dtype), vocab_ids, meta)
    methods = [Method("vanilla", Drafter, 1)]
    for name in ev.methods[1:]:
        base, full_vocab = split_method(name)
        key, over = METHODS[base]
        if key not in heads:
            raise ConfigError(f"eval.heads: method {name!r} needs eval.heads.{key} (a head dir)")
        head, vocab_ids, _ = heads[key]
        tcfg = dataclasses.replace(tree, **over)
        full = full_vocab or vocab_ids.numel() == target.model.cfg.vocab_size
        vocab = None if full else vocab_ids

        def make(h=head, t=tcfg, v=vocab, n=name) -> Drafter:
            return HeadDrafter(h, target.model, t, ev.max_length, v, name=n)

        methods.append(Method(name, make, tcfg.total_token))
    return methods


def peers(c: EvalRun, target, dtype: torch.dtype, greedy: bool) -> dict:  # noqa: ANN001
    """Same-run reference rows: HF generate / prompt lookup (same precision, greedy only) and
    int8 dynamic-quantized vanilla (lossy: its identity rate is reported, not assumed)."""
    ev = c.eval
    extra = {}
    if ev.hf_peers and greedy:
        extra.update(hf_peers(str(resolve_spec(c.model.spec)), ev.max_new_tokens,
                              target.eos_ids, ev.prompt_lookup_tokens, dtype))
    if ev.int8_reference:
        extra["vanilla_int8"] = int8_vanilla(load_target(c.model.spec).model,
                                             DecodeConfig(ev.max_new_tokens, ev.max_length,
                                                          SamplingConfig(ev.temperature, ev.top_k,
                                                                         ev.top_p),
                                                          tuple(target.eos_ids)), c.seed)
    return extra


def evaluate(c: EvalRun) -> dict:
    """Every benchmark, every method interleaved per question; returns the results dict."""
    ev = c.eval
    sampling = SamplingConfig(ev.temperature, ev.top_k, ev.top_p)
    benches = {name: load_questions(p, ev.num_questions) for name, p in ev.benchmarks.items()}
    threads = set_threads(c.threads)
    dtype = DTYPES[c.precision]
    target = load_target(c.model.spec, dtype)
    curve = latency_curve(target.model, ev.latency_ns, reps=ev.latency_reps)
    tree = ev.tree
    if tree.total_token == -1:  # EAGLE-2 auto mode, from this precision's measured t(n)
        tree = dataclasses.replace(tree, total_token=auto_total_token(curve, ev.auto_slack))
    dcfg = DecodeConfig(ev.max_new_tokens, ev.max_length, sampling, tuple(target.eos_ids))
    for qs in benches.values():  # budget check on every first-turn prompt, before decoding
        for q in qs:
            n = chat_prompt(target.tokenizer, [{"role": "user", "content": q.turns[0]}]).numel()
            check_budget(n, dcfg, tree.total_token)
    methods = build_methods(ev, target, tree, dtype)
    extra = peers(c, target, dtype, sampling.greedy)
    out: dict = {"benchmarks": {}, "latency_ms": curve, "tree": dataclasses.asdict(tree),
                 "precision": c.precision, "threads": threads}
    for name, qs in benches.items():
        stats = run_benchmark(target, qs, methods, dcfg, c.seed, extra,
                              progress=lambda m: print(m, flush=True))
        summ = {m: s.summary() for m, s in stats.items()}
        base = summ["vanilla"]["tokens_per_s"]
        # The strongest same-precision AR baseline: the faster of our vanilla and HF generate.
        fastest = max(x for x in (base, summ.get("hf_generate", {}).get("tokens_per_s")) if x)
        for s in summ.values():
            s["speedup"] = s["tokens_per_s"] / base if s["tokens_per_s"] and base else None
            s["speedup_vs_fastest_ar"] = s["tokens_per_s"] / fastest if s["tokens_per_s"] \
                else None
        out["benchmarks"][name] = summ
        out.setdefault("outputs", {})[name] = {m: [r.tokens for r in st.results]
                                               for m, st in stats.items()}
    return out


def run(cfg: DictConfig) -> dict:
    c: EvalRun = parse(EvalRun, OmegaConf.to_container(cfg, resolve=True))
    ev = c.eval
    out = evaluate(c)
    first_name = next(iter(ev.benchmarks))
    first = out["benchmarks"][first_name]
    head_m, base_m = ev.headline, ev.baseline
    result = {
        "paper": PAPER,
        "metric": f"speedup over vanilla AR ({first_name}, T={ev.temperature}, {head_m}, "
                  f"{c.precision})",
        "value": first.get(head_m, {}).get("speedup"),
        "baseline": f"{base_m} (our EAGLE-2 head, same data and budget)",
        "baseline_value": first.get(base_m, {}).get("speedup"),
        "config": ev.config_name,
        "resolved_config": dataclasses.asdict(c),
        "seed": c.seed,
        "hardware": hardware(out["threads"]),
        "command": ev.command,
        "argv": sys.argv,
        "date": today(),
        "model": c.model.spec,
        "sampling": {"temperature": ev.temperature, "top_k": ev.top_k, "top_p": ev.top_p},
        "max_new_tokens": ev.max_new_tokens,
        "num_questions": ev.num_questions,
        **out,
    }
    if result["value"] is None or result["baseline_value"] is None:
        result["note"] = (f"value/baseline need methods {head_m!r} and {base_m!r} in eval.methods "
                          "(a method missing from this run gives null)")
    path = Path(ev.out)
    outputs = result.pop("outputs")  # raw generated ids beside the results, for re-scoring
    write_text_atomic(path.with_suffix(".outputs.json"), json.dumps(outputs))
    result["outputs_file"] = str(path.with_suffix(".outputs.json"))
    write_text_atomic(path, json.dumps(result, indent=1, default=float))
    plot_eval(result, path.with_suffix(".png"))
    print(json.dumps({m: {k: v for k, v in s.items() if k in ("tau", "speedup", "identity_rate")}
                      for m, s in first.items()}, indent=1))
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def _main(cfg: DictConfig) -> None:
    torch.manual_seed(cfg.seed)
    try:
        run(cfg)
    except (ConfigError, CheckpointError, DataError, FileNotFoundError) as e:
        print(f"jakiro-eval: error: {e}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    _main()


if __name__ == "__main__":
    main()
