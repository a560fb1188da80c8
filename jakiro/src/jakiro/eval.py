"""`jakiro-eval`: τ, speedup, α_k, time split and identity rate on question.jsonl benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from jakiro.assets import resolve_spec
from jakiro.checkpoint import load_head
from jakiro.data import load_questions
from jakiro.decode import DecodeConfig, check_budget
from jakiro.drafters import Drafter, HeadDrafter, TreeConfig
from jakiro.evaluation import Method, chat_prompt, hf_peers, run_benchmark
from jakiro.latency import auto_total_token, latency_curve
from jakiro.pipeline import hardware, load_target, set_threads, today, write_text_atomic
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


def build_methods(ev: dict, target, max_len: int, tree: dict) -> list[Method]:  # noqa: ANN001
    heads = {}
    for name in ev["methods"]:
        if name != "vanilla" and split_method(name)[0] not in METHODS:
            raise ValueError(f"eval.methods: unknown method {name!r}; expected vanilla or one of "
                             f"{sorted(METHODS)} (optionally with suffix {FULL_VOCAB!r})")
    for key, path in ev["heads"].items():
        if any(METHODS.get(split_method(m)[0], ("",))[0] == key for m in ev["methods"]):
            heads[key] = load_head(Path(path), target.model.cfg)
    methods = [Method("vanilla", Drafter, 1)]
    for name in ev["methods"]:
        if name == "vanilla":
            continue
        base, full_vocab = split_method(name)
        key, over = METHODS[base]
        if key not in heads:
            raise ValueError(f"eval.heads: method {name!r} needs eval.heads.{key} (a head dir)")
        head, vocab_ids, _ = heads[key]
        tcfg = TreeConfig(**{**tree, **over})
        full = full_vocab or vocab_ids.numel() == target.model.cfg.vocab_size
        vocab = None if full else vocab_ids

        def make(h=head, t=tcfg, v=vocab, n=name) -> Drafter:
            return HeadDrafter(h, target.model, t, max_len, v, name=n)

        methods.append(Method(name, make, tcfg.total_token))
    return methods


def run(cfg: DictConfig) -> dict:
    c = OmegaConf.to_container(cfg, resolve=True)
    ev = c["eval"]
    sampling = SamplingConfig(ev["temperature"], ev["top_k"], ev["top_p"])
    benches = {name: load_questions(p, ev["num_questions"]) for name, p in ev["benchmarks"].items()}
    threads = set_threads(c.get("threads", 0))
    target = load_target(c["model"]["spec"])
    curve = latency_curve(target.model, ev["latency_ns"], reps=ev.get("latency_reps", 5))
    tree = dict(ev["tree"])
    if tree["total_token"] == -1:
        tree["total_token"] = auto_total_token(curve, ev.get("auto_slack", 0.6))
    dcfg = DecodeConfig(ev["max_new_tokens"], ev["max_length"], sampling, tuple(target.eos_ids))
    for qs in benches.values():  # budget check on every first-turn prompt, before decoding
        for q in qs:
            n = chat_prompt(target.tokenizer, [{"role": "user", "content": q.turns[0]}]).numel()
            check_budget(n, dcfg, tree["total_token"])
    methods = build_methods(ev, target, ev["max_length"], tree)
    extra = None
    if ev.get("hf_peers") and sampling.greedy:
        extra = hf_peers(str(resolve_spec(c["model"]["spec"])), ev["max_new_tokens"],
                         target.eos_ids)
    out: dict = {"benchmarks": {}, "latency_ms": curve, "tree": tree}
    for name, qs in benches.items():
        stats = run_benchmark(target, qs, methods, dcfg, c["seed"], extra,
                              progress=lambda m: print(m, flush=True))
        summ = {m: s.summary() for m, s in stats.items()}
        base = summ["vanilla"]["tokens_per_s"]
        for s in summ.values():
            s["speedup"] = s["tokens_per_s"] / base if s["tokens_per_s"] and base else None
        out["benchmarks"][name] = summ
    first = out["benchmarks"][next(iter(benches))]
    head_m = ev.get("headline", "jakiro")
    base_m = ev.get("baseline", "eagle2")
    result = {
        "paper": PAPER,
        "metric": f"speedup over vanilla AR ({next(iter(benches))}, T={ev['temperature']}, "
                  f"{head_m})",
        "value": first.get(head_m, {}).get("speedup"),
        "baseline": f"{base_m} (our EAGLE-2 head, same data and budget)",
        "baseline_value": first.get(base_m, {}).get("speedup"),
        "config": ev.get("config_name", "experiment=tiny"),
        "seed": c["seed"],
        "hardware": hardware(threads),
        "command": ev.get("command", "jakiro-eval"),
        "date": today(),
        "model": c["model"]["spec"],
        "sampling": {"temperature": ev["temperature"], "top_k": ev["top_k"], "top_p": ev["top_p"]},
        "max_new_tokens": ev["max_new_tokens"],
        "num_questions": ev["num_questions"],
        "threads": threads,
        **out,
    }
    if result["value"] is None or result["baseline_value"] is None:
        result["note"] = (f"value/baseline need methods {head_m!r} and {base_m!r} in eval.methods "
                          "(a method missing from this run gives null)")
    path = Path(ev["out"])
    write_text_atomic(path, json.dumps(result, indent=1, default=float))
    plot_eval(result, path.with_suffix(".png"))
    print(json.dumps({m: {k: v for k, v in s.items() if k in ("tau", "speedup", "identity_rate")}
                      for m, s in first.items()}, indent=1))
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def _main(cfg: DictConfig) -> None:
    torch.manual_seed(cfg.seed)
    run(cfg)


def main() -> None:
    _main()


if __name__ == "__main__":
    main()
