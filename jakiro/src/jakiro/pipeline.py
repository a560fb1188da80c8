"""Glue shared by the entry points: threads, target loading, cached training features."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

import torch

from jakiro.assets import Target, cache_dir, load_target
from jakiro.data import encode_conversation, load_conversations
from jakiro.features import FeatureSeq, build_feature_store, load_feature_store, store_key

# eval/selfdistill ``precision`` -> dtype of the target, the heads and the KV caches.
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def set_threads(n: int) -> int:
    if n > 0:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def hardware(threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    # The 1-minute load average says whether other jobs shared the CPU during a timing.
    return (f"{os.cpu_count()}-core CPU ({cpu}), torch threads={threads}, "
            f"load average {os.getloadavg()[0]:.2f} when written")


def today() -> str:
    return datetime.date.today().isoformat()


def training_features(target: Target, data_cfg: dict) -> tuple[list[FeatureSeq], torch.Tensor,
                                                               torch.Tensor]:
    """Chat-templated conversations -> target features, cached under ~/.cache/jakiro/features."""
    if target.tokenizer is None:
        raise ValueError(f"model {target.name!r} has no tokenizer; cannot format conversations")
    key = store_key({"model": target.name, **{k: data_cfg[k] for k in sorted(data_cfg)}})
    root = Path(data_cfg.get("cache_dir") or cache_dir() / "features") / key
    if not (root / "done.json").exists():
        convs = load_conversations(data_cfg["conversations"], data_cfg["num_conversations"],
                                   data_cfg["seed"])
        samples = [encode_conversation(target.tokenizer, c, data_cfg["max_len"]) for c in convs]
        samples = [s for s in samples if s.input_ids.numel() >= 8 and s.loss_mask.sum() > 0]
        build_feature_store(target.model, samples, root)
    seqs, counts = load_feature_store(root)
    token_counts = torch.bincount(torch.cat([s.input_ids for s in seqs]),
                                  minlength=counts.numel())
    return seqs, counts, token_counts


__all__ = ["DTYPES", "load_target", "set_threads", "training_features", "hardware", "today"]
