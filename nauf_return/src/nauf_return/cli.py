"""Shared entry-point plumbing: thread count, one-line errors, config path."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from nauf_return.errors import ConfigError

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


def set_threads(n: int) -> None:
    # Small models run faster with one thread on 2 shared cores; always explicit.
    if n and n > 0:
        torch.set_num_threads(int(n))


def guarded(fn, cfg):
    """Run ``fn(cfg)``; a user error becomes one line on stderr and exit code 2.

    Caught inside the Hydra main because Hydra reports ordinary exceptions as tracebacks;
    SystemExit passes through it.
    """
    try:
        return fn(cfg)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
