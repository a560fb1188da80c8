"""Runtime choice by measurement: in-house Llama vs HF ``LlamaForCausalLM`` with a 4D tree mask.

For each n (tree size) on a ``--cache``-token KV cache, one tree-verify forward of n tokens
followed by the compaction of the accepted slots, timed for
  (a) the in-house runtime (pre-allocated ``KVCache``: additive tree mask, ``compact``), and
  (b) HF ``LlamaForCausalLM`` with a custom 4D additive mask [1, 1, n, past + n] and a
      ``DynamicCache`` (transformers returns a 4D mask as-is from ``create_causal_mask``),
      compacted by gathering the accepted rows of every layer after the prefix.
Repetitions are interleaved (ours, HF, ours, ... for every n) so machine load hits both alike;
medians are reported. Logits of both runtimes are compared on the same tree, and once more on
one token decoded after compaction (checks both compaction paths).

Usage: python bench/runtime_choice.py [--ns 1,4,16,32] [--reps 15] [--cache 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from jakiro.llama import attention_mask
from jakiro.tree import ancestor_mask

ROOT = Path(__file__).resolve().parents[1]
SPEC = "smollm2-135m-instruct"


def random_tree(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Parents (slot 0 = root), depths, and the accepted slots: the root-to-leaf path of the
    deepest node, cut at 4 slots (a typical accepted length)."""
    g = torch.Generator().manual_seed(seed)
    parents = [-1] + [int(torch.randint(max(0, i - 3), i, (1,), generator=g)) for i in range(1, n)]
    depth = ancestor_mask(torch.tensor(parents)).sum(1) - 1
    path = [int(depth.argmax())]
    while parents[path[-1]] >= 0:
        path.append(parents[path[-1]])
    return torch.tensor(parents), depth, path[::-1][:4]


def hf_compact(cache, start: int, keep: torch.Tensor) -> None:  # noqa: ANN001 - DynamicCache
    """Keep rows start + keep of every layer packed after the prefix (what KVCache.compact does)."""
    idx = keep + start
    for layer in cache.layers:
        layer.keys = torch.cat([layer.keys[..., :start, :], layer.keys.index_select(-2, idx)], -2)
        layer.values = torch.cat([layer.values[..., :start, :],
                                  layer.values.index_select(-2, idx)], -2)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


class Bench:
    """Both runtimes on one prefix; ``step_*`` run one verify + compaction from the prefix."""

    def __init__(self, cache_len: int, max_n: int, seed: int) -> None:
        from jakiro.assets import load_target, resolve_spec
        from transformers import DynamicCache, LlamaForCausalLM

        self.ours = load_target(SPEC).model
        self.hf = LlamaForCausalLM.from_pretrained(str(resolve_spec(SPEC)),
                                                   dtype=torch.float32).eval()
        g = torch.Generator().manual_seed(seed)
        self.vocab = self.ours.cfg.vocab_size
        self.prefix = torch.randint(0, self.vocab, (1, cache_len), generator=g)
        self.past = cache_len
        self.kv = self.ours.new_cache(cache_len + max_n + 2)
        self.ours(self.prefix, cache=self.kv, logits=False)
        self.hf_cache = DynamicCache(config=self.hf.config)
        self.hf(self.prefix, cache=self.hf_cache, use_cache=True)
        self.gen = g

    def tree(self, n: int, seed: int) -> dict:
        parents, depth, keep = random_tree(n, seed)
        return {"tokens": torch.randint(0, self.vocab, (1, n), generator=self.gen),
                "mask": ancestor_mask(parents), "pos": (self.past + depth)[None],
                "keep": torch.tensor(keep)}

    def step_ours(self, t: dict) -> tuple[float, float, torch.Tensor]:
        self.kv.truncate(self.past)  # untimed reset to the prefix
        f_ms, (_, logits) = timed(lambda: self.ours(t["tokens"], t["pos"], self.kv, t["mask"]))
        c_ms, _ = timed(lambda: self.kv.compact(self.past, t["keep"]))
        return f_ms, c_ms, logits[0]

    def step_hf(self, t: dict) -> tuple[float, float, torch.Tensor]:
        extra = self.hf_cache.get_seq_length() - self.past
        if extra:
            self.hf_cache.crop(-extra)  # untimed reset to the prefix
        # Mask construction is timed, as it is inside the in-house forward.
        n = t["tokens"].shape[1]  # 4D additive mask [1, 1, n, past + n]: prefix + tree ancestors
        f_ms, out = timed(lambda: self.hf(t["tokens"], attention_mask=attention_mask(
                                              n, self.past, t["mask"], torch.float32)[None, None],
                                          position_ids=t["pos"], cache=self.hf_cache,
                                          use_cache=True))
        c_ms, _ = timed(lambda: hf_compact(self.hf_cache, self.past, t["keep"]))
        return f_ms, c_ms, out.logits[0]

    def after_compaction_diff(self, t: dict) -> float:
        """Logit difference of one more token decoded on each runtime's compacted cache."""
        self.step_ours(t)
        self.step_hf(t)
        tok = torch.randint(0, self.vocab, (1, 1), generator=self.gen)
        pos = torch.tensor([[self.past + t["keep"].numel()]])
        _, a = self.ours(tok, pos, self.kv)
        b = self.hf(tok, position_ids=pos, cache=self.hf_cache, use_cache=True).logits
        return float((a - b).abs().max())


@torch.no_grad()
def measure(ns: list[int], reps: int, cache_len: int, seed: int) -> dict:
    b = Bench(cache_len, max(ns), seed)
    trees = {n: b.tree(n, seed + n) for n in ns}
    rows: dict[int, dict[str, list[float]]] = {n: {} for n in ns}
    check = {}
    for n in ns:  # warm-up and the logits check
        _, _, lo = b.step_ours(trees[n])
        _, _, lh = b.step_hf(trees[n])
        check[n] = {"max_abs_diff_logits": float((lo - lh).abs().max()),
                    "max_abs_diff_after_compaction": b.after_compaction_diff(trees[n])}
    for r in range(reps):
        for n in ns:
            # Alternate which runtime goes first so neither always follows the other.
            order = ("ours", "hf") if (r + n) % 2 == 0 else ("hf", "ours")
            for name in order:
                f, c, _ = (b.step_ours if name == "ours" else b.step_hf)(trees[n])
                rows[n].setdefault(f"{name}_forward_ms", []).append(f)
                rows[n].setdefault(f"{name}_compact_ms", []).append(c)
                rows[n].setdefault(f"{name}_total_ms", []).append(f + c)
    out = {}
    for n in ns:
        med = {k: statistics.median(v) for k, v in rows[n].items()}
        med["hf_over_ours_total"] = med["hf_total_ms"] / med["ours_total_ms"]
        out[n] = {**med, **check[n], "accepted_slots": trees[n]["keep"].numel()}
    return {"rows": out, "attn_implementation": b.hf.config._attn_implementation}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ns", default="1,4,16,32")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--cache", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/runtime_choice.json")
    a = ap.parse_args()
    import transformers
    from jakiro.atomic import write_text_atomic
    from jakiro.eval import PAPER
    from jakiro.pipeline import hardware, set_threads, today

    threads = set_threads(1)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    res = measure([int(x) for x in a.ns.split(",")], a.reps, a.cache, a.seed)
    total = {n: r["hf_over_ours_total"] for n, r in res["rows"].items()}
    n_max = max(res["rows"])
    result = {
        "paper": PAPER,
        "metric": f"median tree-verify forward + compaction latency (ms), n={n_max} new tokens, "
                  "in-house runtime (all n in rows)",
        "value": res["rows"][n_max]["ours_total_ms"],
        "baseline": "HF LlamaForCausalLM with a 4D tree mask + DynamicCache crop/gather, same n",
        "baseline_value": res["rows"][n_max]["hf_total_ms"], "config": vars(a),
        "model": SPEC, "dtype": "float32", "cache_len": a.cache, "reps": a.reps,
        "seed": a.seed, "threads": threads, "hardware": hardware(threads), "date": today(),
        "load_avg_1min": [load0, os.getloadavg()[0]], "wall_s": time.perf_counter() - t0,
        "transformers": transformers.__version__, "torch": torch.__version__,
        "hf_cache": "DynamicCache", "command": "make runtime-choice", **res,
        "conclusion": ("keep in-house" if all(v >= 1.0 for v in total.values())
                       else "HF faster for some n; see rows"),
    }
    path = ROOT / a.out
    write_text_atomic(path, json.dumps(result, indent=1))
    for n, r in res["rows"].items():
        print(f"n={n:3d} ours {r['ours_forward_ms']:.1f}+{r['ours_compact_ms']:.2f} ms  "
              f"hf {r['hf_forward_ms']:.1f}+{r['hf_compact_ms']:.2f} ms  "
              f"hf/ours {r['hf_over_ours_total']:.2f}  max|dlogit| {r['max_abs_diff_logits']:.2e} "
              f"after compaction {r['max_abs_diff_after_compaction']:.2e}")


if __name__ == "__main__":
    main()
