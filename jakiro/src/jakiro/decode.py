"""The speculative decode loop shared by every drafter, with per-cycle statistics.

Invariant between cycles: the target cache holds every committed token except the newest
(the root of the next tree), so ``cache.length == len(tokens) - 1``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from jakiro.drafters import Drafter
from jakiro.llama import LlamaLM
from jakiro.sampling import SamplingConfig, choose
from jakiro.verify import verify_greedy, verify_sampling


@dataclass
class DecodeConfig:
    max_new_tokens: int = 128
    max_length: int = 2048  # target and draft cache capacity (positions)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    eos_ids: tuple[int, ...] = ()


@dataclass
class DecodeResult:
    tokens: list[int]  # generated tokens (after the prompt), stop token included
    accepted: list[int] = field(default_factory=list)  # accepted drafts per cycle
    tree_depth: list[int] = field(default_factory=list)  # deepest draft level per cycle
    tree_size: list[int] = field(default_factory=list)
    prefill_s: float = 0.0
    draft_s: float = 0.0
    verify_s: float = 0.0
    total_s: float = 0.0
    draft_forwards: int = 0

    @property
    def cycles(self) -> int:
        return len(self.accepted)

    @property
    def tau(self) -> float:
        """Mean tokens emitted per verification cycle (accepted drafts + the bonus token)."""
        return sum(a + 1 for a in self.accepted) / max(self.cycles, 1)

    @property
    def overhead_s(self) -> float:
        return self.total_s - self.prefill_s - self.draft_s - self.verify_s


def check_budget(prompt_len: int, cfg: DecodeConfig, tree_tokens: int) -> None:
    need = prompt_len + cfg.max_new_tokens + tree_tokens
    if need > cfg.max_length:
        raise ValueError(
            f"decode.max_length={cfg.max_length} is too small: prompt ({prompt_len}) + "
            f"max_new_tokens ({cfg.max_new_tokens}) + tree total_token ({tree_tokens}) = {need}"
        )


def _stop(tokens: list[int], cfg: DecodeConfig) -> tuple[list[int], bool]:
    for i, t in enumerate(tokens):
        if t in cfg.eos_ids or i + 1 >= cfg.max_new_tokens:
            return tokens[: i + 1], True
    return tokens, False


def _vanilla_loop(target: LlamaLM, cache, out: list[int], done: bool,  # noqa: ANN001, PLR0913
                  cfg: DecodeConfig, gen: torch.Generator, res: DecodeResult,
                  t_start: float) -> DecodeResult:
    """Autoregressive decoding: one token per forward, no tree, mask or compaction."""
    dev = target.embed_tokens.weight.device
    step = torch.empty(1, 1, dtype=torch.long, device=dev)
    while not done:
        t0 = time.perf_counter()
        step.fill_(out[-1])
        _, logits = target(step, cache=cache)
        tok = choose(logits[0, -1], cfg.sampling, gen)
        res.verify_s += time.perf_counter() - t0
        res.accepted.append(0)
        out.append(tok)
        done = tok in cfg.eos_ids or len(out) >= cfg.max_new_tokens
    n = len(res.accepted)
    res.tree_depth, res.tree_size = [0] * n, [1] * n
    res.tokens = out
    res.total_s = time.perf_counter() - t_start
    return res


@torch.no_grad()
def generate(
    target: LlamaLM,
    drafter: Drafter,
    prompt: torch.Tensor,
    cfg: DecodeConfig,
    tree_tokens: int = 1,
    seed: int = 0,
    lean_vanilla: bool = True,
) -> DecodeResult:
    """Decode ``prompt`` (1-D token ids) with ``drafter``; lossless for every drafter.

    A plain ``Drafter`` (vanilla) runs the lean autoregressive loop unless ``lean_vanilla`` is
    False (then it goes through the tree machinery with a one-node tree: same tokens at T=0, used
    to measure the loop overhead that the lean loop removes).
    """
    dev = target.embed_tokens.weight.device
    prompt = prompt.long().flatten().to(dev)
    check_budget(prompt.numel(), cfg, tree_tokens)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    t_start = time.perf_counter()
    cache = target.new_cache(cfg.max_length)
    feats, logits = target(prompt[None], cache=cache, logits="last")
    root = choose(logits[0, -1], cfg.sampling, gen)
    res = DecodeResult(tokens=[])
    res.prefill_s = time.perf_counter() - t_start
    out, done = _stop([root], cfg)
    if lean_vanilla and type(drafter) is Drafter:
        return _vanilla_loop(target, cache, out, done, cfg, gen, res, t_start)
    if not done:
        t0 = time.perf_counter()
        drafter.begin(prompt, feats[0], root)
        res.draft_s += time.perf_counter() - t0
    while not done:
        t0 = time.perf_counter()
        tree = drafter.propose()
        t1 = time.perf_counter()
        start = cache.length
        h, logits = target(
            tree.tokens[None].to(dev), tree.positions(start)[None], cache, tree.ancestor_mask()
        )
        t2 = time.perf_counter()
        if cfg.sampling.greedy:
            verdict = verify_greedy(tree, logits[0])
        else:
            verdict = verify_sampling(tree, logits[0], cfg.sampling, rng)
        slots = torch.tensor(verdict.slots)
        cache.compact(start, slots)
        new = tree.tokens[slots[1:]].tolist() + [verdict.next_token]
        res.accepted.append(len(slots) - 1)
        res.tree_depth.append(int(tree.depth.max()))
        res.tree_size.append(len(tree))
        out, done = _stop(out + new, cfg)
        t3 = time.perf_counter()
        if not done:
            drafter.observe(h[0, slots.to(dev)], tree.tokens[slots[1:]].tolist()
                            + [verdict.next_token])
        t4 = time.perf_counter()
        res.draft_s += (t1 - t0) + (t4 - t3)
        res.verify_s += t2 - t1
    res.tokens = out
    res.total_s = time.perf_counter() - t_start
    res.draft_forwards = getattr(drafter, "forwards", 0)
    return res
