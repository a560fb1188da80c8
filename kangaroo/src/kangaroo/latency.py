"""t(n): the target's latency for n new tokens on a cached prefix, for the full model and for
the verification block [l, N) alone (what Kangaroo pays per cycle, besides drafting)."""

from __future__ import annotations

import statistics
import time

import torch

from kangaroo.llama import LlamaLM


@torch.no_grad()
def latency_curve(model: LlamaLM, exit_layer: int, sizes: list[int], cache_len: int = 300,
                  repeats: int = 5) -> dict[str, dict[int, float]]:
    """Median milliseconds per forward of n tokens after ``cache_len`` cached positions."""
    dev = model.embed_tokens.weight.device
    ids = torch.randint(0, model.cfg.vocab_size, (1, cache_len), generator=torch.Generator()
                        .manual_seed(0)).to(dev)
    out: dict[str, dict[int, float]] = {"full": {}, "verify_block": {}}
    for n in sizes:
        new = torch.randint(0, model.cfg.vocab_size, (1, n)).to(dev)
        pos = torch.arange(cache_len, cache_len + n, device=dev)
        for key, start in (("full", 0), ("verify_block", exit_layer)):
            times = []
            for _ in range(repeats + 1):  # first run warms up
                cache = model.new_cache(cache_len + n + 1)
                model(ids, cache)
                h = model.embed_tokens(new)
                if start:
                    h = model.run_layers(h, 0, start, pos, cache)
                t0 = time.perf_counter()
                model.logits(model.run_layers(h, start, model.num_layers, pos, cache))
                times.append(time.perf_counter() - t0)
            out[key][n] = round(1000 * statistics.median(times[1:]), 2)
    return out
