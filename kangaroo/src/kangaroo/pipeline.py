"""Glue shared by the entry points: config validation, threads, errors, training data."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from kangaroo.assets import Target
from kangaroo.checkpoint import CheckpointError
from kangaroo.data import (
    Sample,
    chitchat_conversations,
    encode_conversation,
    load_sharegpt,
    synthetic_samples,
)
from kangaroo.run_folder import RunFolderError
from kangaroo.schema import ConfigError, DataConfig, build
from kangaroo.selfdistill import cache_file, self_distill

USER_ERRORS = (ConfigError, RunFolderError, CheckpointError, ValueError, FileNotFoundError)


def resolved(cfg: DictConfig, schema: type) -> tuple[dict, object]:
    """The plain resolved config and its validated dataclass (errors name the key)."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    return plain, build(schema, plain)


def run_main(prog: str, fn: Callable[[], object]) -> None:
    """User errors end the program with one line and exit status 2, not a traceback."""
    try:
        fn()
    except USER_ERRORS as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        sys.exit(2)


def set_threads(n: int) -> int:
    torch.set_num_threads(n)
    return torch.get_num_threads()


def hardware(threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    return f"{os.cpu_count()}-core CPU ({cpu}), torch threads={threads}"


def today() -> str:
    return datetime.date.today().isoformat()


def training_samples(target: Target, dc: DataConfig) -> list[Sample]:
    """Chat-templated, assistant-masked training sequences for the data config."""
    if dc.conversations == "synthetic":
        return synthetic_samples(target.model.cfg.vocab_size, dc.num_conversations,
                                 min(dc.max_len, 64), dc.seed)
    if target.tokenizer is None:
        raise ValueError(f"model.spec {target.name!r} has no tokenizer; use "
                         "data.conversations=synthetic")
    if dc.conversations == "chitchat":
        convs = chitchat_conversations(dc.num_conversations, dc.seed)
        if dc.self_distill:
            key = {"conversations": "chitchat", "n": dc.num_conversations, "seed": dc.seed,
                   "answer_tokens": dc.answer_tokens, "dtype": str(target.model.embed_tokens
                                                                    .weight.dtype),
                   "cache_dir": dc.cache_dir}
            convs = self_distill(target, convs, dc.answer_tokens, cache_file(target, key))
    else:
        convs = load_sharegpt(Path(dc.conversations), dc.num_conversations, dc.seed)
    samples = [encode_conversation(target.tokenizer, c, dc.max_len) for c in convs]
    return [s for s in samples if s.loss_mask.any()]
