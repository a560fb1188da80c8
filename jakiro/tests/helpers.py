"""Test helpers: self-generated training data for the tiny target, a reference decoder."""

from __future__ import annotations

from pathlib import Path

import torch
from jakiro.data import Sample
from jakiro.draft_head import HeadConfig
from jakiro.features import build_feature_store, load_feature_store
from jakiro.llama import LlamaLM
from jakiro.training import TrainConfig, train_head


@torch.no_grad()
def greedy_reference(model: LlamaLM, prompt: torch.Tensor, n: int) -> list[int]:
    """Plain greedy decoding without any cache (the ground truth for losslessness)."""
    seq = prompt.tolist()
    for _ in range(n):
        _, logits = model(torch.tensor([seq]))
        seq.append(int(logits[0, -1].argmax()))
    return seq[prompt.numel():]


@torch.no_grad()
def self_generated_samples(model: LlamaLM, n: int, length: int, seed: int) -> list[Sample]:
    """Greedy continuations of random 4-token prompts: text the target itself would emit."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        prompt = torch.randint(0, model.cfg.vocab_size, (4,), generator=gen)
        cache = model.new_cache(length + 8)
        _, logits = model(prompt[None], cache=cache)
        seq = prompt.tolist()
        for _ in range(length - 4):
            nxt = int(logits[0, -1].argmax())
            seq.append(nxt)
            _, logits = model(torch.tensor([[nxt]]), cache=cache)
        ids = torch.tensor(seq)
        mask = torch.ones_like(ids)
        mask[:4] = 0
        out.append(Sample(ids, mask))
    return out


def train_tiny_heads(model: LlamaLM, root: Path, steps: int = 80) -> dict:
    samples = self_generated_samples(model, 32, 32, seed=1)
    store = build_feature_store(model, samples, root / "features", shard_size=16)
    seqs, _ = load_feature_store(store)
    vocab = torch.arange(model.cfg.vocab_size)
    cfg = TrainConfig(lr=5e-3, warmup_steps=5, epochs=100, batch_size=8, max_steps=steps,
                      noise_std=0.0, log_every=50, save_every=1000)
    heads = {}
    for kind in ("jakiro", "eagle"):
        out = root / kind
        summary = train_head(model, seqs, HeadConfig(kind=kind), vocab, cfg, out, {"test": True})
        heads[kind] = {"dir": out / "head", "summary": summary}
    return heads
