"""Batched autoregressive decoding of many prompts per forward (left padding), for
self-distillation: on a CPU one forward of B rows costs far less than B forwards of one row.

Row i of the batch is left-padded by ``L - L_i`` pad slots. Its real tokens get positions
0..L_i-1 (as if decoded alone), and an additive mask hides the pad slots from every query, so
each row computes what ``decode.generate`` computes for it alone (up to float summation order;
greedy outputs are tested equal in fp32).
"""

from __future__ import annotations

import torch

from jakiro.decode import DecodeConfig
from jakiro.llama import LlamaLM
from jakiro.sampling import choose


def _bias(pad: torch.Tensor, n_new: int, past: int, dtype: torch.dtype) -> torch.Tensor:
    """[B, 1, n_new, past + n_new] additive mask: causal, pad columns hidden. A pad query row
    sees itself only (a fully masked row would give NaN; its output is never used)."""
    total = past + n_new
    cols = torch.arange(total)
    rows = past + torch.arange(n_new)
    causal = cols[None, :] <= rows[:, None]  # [n, total]
    real = cols[None, :] >= pad[:, None]  # [B, total]
    ok = causal[None] & real[:, None, :]
    ok |= (cols[None, None, :] == rows[None, :, None]) & ~ok.any(-1, keepdim=True)
    return torch.zeros(ok.shape, dtype=dtype).masked_fill(~ok, float("-inf"))[:, None]


@torch.no_grad()
def generate_batch(target: LlamaLM, prompts: list[torch.Tensor], cfg: DecodeConfig,
                   seed: int = 0) -> list[list[int]]:
    """Vanilla decoding of every prompt (1-D ids); returns each row's new tokens (stop token
    included), exactly as ``generate(target, Drafter(), prompt, cfg)`` stops them."""
    dev = target.embed_tokens.weight.device
    dtype = target.embed_tokens.weight.dtype
    lens = torch.tensor([p.numel() for p in prompts])
    width = int(lens.max())
    pad = width - lens
    ids = torch.zeros(len(prompts), width, dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, pad[i]:] = p.long().flatten().cpu()
    gen = torch.Generator().manual_seed(seed)
    cache = target.new_cache(width + cfg.max_new_tokens, batch=len(prompts))
    positions = (torch.arange(width)[None] - pad[:, None]).clamp(min=0)
    _, logits = target(ids.to(dev), positions.to(dev), cache, logits="last",
                       attn_bias=_bias(pad, width, 0, dtype).to(dev))
    outs: list[list[int]] = [[] for _ in prompts]
    done = [False] * len(prompts)
    for step in range(cfg.max_new_tokens):
        nxt = [choose(logits[i, -1], cfg.sampling, gen) for i in range(len(prompts))]
        for i, tok in enumerate(nxt):
            if not done[i]:
                outs[i].append(tok)
                done[i] = tok in cfg.eos_ids or len(outs[i]) >= cfg.max_new_tokens
        if all(done):
            break
        step_ids = torch.tensor(nxt, device=dev)[:, None]
        pos = (lens + step)[:, None].to(dev)
        _, logits = target(step_ids, pos, cache,
                           attn_bias=_bias(pad, 1, cache.length, dtype).to(dev))
    return outs
