"""Target latency curve t(n): one forward of n new tokens on top of a cache of fixed length."""

from __future__ import annotations

import statistics
import time

import torch

from jakiro.llama import LlamaLM


@torch.no_grad()
def latency_curve(
    model: LlamaLM, ns: list[int], cache_len: int = 300, reps: int = 5, warmup: int = 1,
    sync=None,  # noqa: ANN001 - e.g. torch.cuda.synchronize
) -> dict[int, float]:
    """Median milliseconds per forward for each n (tokens are random; timing only)."""
    dev = model.embed_tokens.weight.device
    cache = model.new_cache(cache_len + max(ns) + 1)
    prefix = torch.randint(0, model.cfg.vocab_size, (1, cache_len), device=dev)
    model(prefix, cache=cache, logits=False)
    out = {}
    for n in ns:
        toks = torch.randint(0, model.cfg.vocab_size, (1, n), device=dev)
        times = []
        for r in range(warmup + reps):
            cache.truncate(cache_len)
            if sync:
                sync()
            t0 = time.perf_counter()
            model(toks, cache=cache)
            if sync:
                sync()
            if r >= warmup:
                times.append((time.perf_counter() - t0) * 1000)
        out[n] = statistics.median(times)
    return out


def auto_total_token(curve: dict[int, float], slack: float = 0.6) -> int:
    """Largest tree size whose verify latency stays within (1 + slack) x t(1).

    EAGLE-2's auto mode picks the budget from measured forward times; on a GPU the curve is
    flat and this returns the largest candidate, on a CPU it stops where t(n) starts to climb.
    """
    base = curve[min(curve)]
    ok = [n for n, t in curve.items() if t <= (1 + slack) * base]
    return max(ok) if ok else min(curve)
