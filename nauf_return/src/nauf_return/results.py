"""Results JSON in the monorepo schema, written atomically."""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path

import torch

from nauf_return.records import atomic_write_text

PAPER = "Learning to Refuse: Towards Mitigating Privacy Risks in LLMs (NAUF/RETURN, COLING 2025)"


def hardware(note: str = "") -> str:
    if torch.cuda.is_available():
        desc = torch.cuda.get_device_name(0)
    else:
        desc = f"{os.cpu_count()}-core CPU ({platform.machine()})"
    desc += f", torch threads={torch.get_num_threads()}"
    return f"{desc}{', ' + note if note else ''}"


def write_result(path: str | Path, *, metric: str, value, baseline: str, baseline_value,
                 config: str, seed: int, command: str, hardware_note: str = "", **extra) -> dict:
    record = {
        "paper": PAPER, "metric": metric, "value": value, "baseline": baseline,
        "baseline_value": baseline_value, "config": config, "seed": seed,
        "hardware": hardware(hardware_note), "command": command,
        "date": datetime.date.today().isoformat(), **extra,
    }
    atomic_write_text(path, json.dumps(record, indent=2, default=float) + "\n")
    return record
