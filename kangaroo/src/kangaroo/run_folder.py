"""The run-folder contract: a folder records the resolved config it was created with.

Same config -> resume (or report the finished run); a different config -> refused before any
work, naming every differing dotted key and the two ways out; ``overwrite=true`` wipes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import yaml

CONFIG_FILE = "config.yaml"
HASH_FILE = "config_hash"
# Keys that say how to treat the folder, not what the run computes.
NOT_COMPARED = ("overwrite",)


class RunFolderError(RuntimeError):
    """The run folder cannot be used with this config (message says how to recover)."""


def comparable(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in NOT_COMPARED}


def config_hash(cfg: dict) -> str:
    text = json.dumps(comparable(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def flatten(cfg: object, prefix: str = "") -> dict[str, object]:
    if isinstance(cfg, dict):
        out: dict[str, object] = {}
        for k, v in cfg.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: cfg}


def differences(old: dict, new: dict) -> list[str]:
    a, b = flatten(comparable(old)), flatten(comparable(new))
    missing = object()
    lines = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, missing), b.get(key, missing)
        if va != vb:
            show = lambda v: "<absent>" if v is missing else repr(v)  # noqa: E731
            lines.append(f"  {key}: {show(va)} -> {show(vb)}")
    return lines


def write_text_atomic(path: Path, text: str) -> None:
    """Temporary sibling, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def open_run_folder(out_dir: Path, cfg: dict, overwrite: bool) -> bool:
    """Create or re-open ``out_dir`` for ``cfg``; returns True when it already existed."""
    record = out_dir / CONFIG_FILE
    if overwrite and out_dir.exists():
        shutil.rmtree(out_dir)
    if record.exists():
        old = yaml.safe_load(record.read_text())
        diff = differences(old or {}, cfg)
        if diff:
            raise RunFolderError(
                f"{out_dir} was created with a different config; differing keys (old -> new):\n"
                + "\n".join(diff)
                + f"\nUse a new out_dir, or overwrite=true to wipe {out_dir} and start fresh.")
        return True
    if out_dir.exists() and any(out_dir.iterdir()):
        raise RunFolderError(f"{out_dir} exists and holds files but no {CONFIG_FILE}; it is not a "
                             "run folder of kangaroo-train. Use a new out_dir, or overwrite=true.")
    write_text_atomic(record, yaml.safe_dump(cfg, sort_keys=True))
    write_text_atomic(out_dir / HASH_FILE, config_hash(cfg) + "\n")
    return False
