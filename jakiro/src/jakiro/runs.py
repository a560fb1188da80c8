"""The run-folder contract: a folder records the config it was created with, and keeps it.

``prepare_run(out_dir, config, overwrite)`` runs before any work. A new (or empty) folder gets
``config.yaml`` (the fully resolved config) and then ``config_hash`` (written last: its presence
means the record is complete). Re-running into a recorded folder with the same config resumes;
with a different config it is refused with one error listing every differing dotted key, unless
``overwrite=true`` wipes the folder first. Keys that only steer how a run executes (not what it
computes) are left out of the record: ``RUNTIME_KEYS``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import yaml

from jakiro.atomic import write_text_atomic

# Not part of the recorded config: the folder location, the overwrite switch itself, thread
# count and the preemption point (a run stopped with train.stop_at resumes without it).
RUNTIME_KEYS = ("out_dir", "overwrite", "threads", "train.stop_at")
# What a jakiro run folder may contain; anything else means "not ours": never wiped.
RUN_ENTRIES = {"config.yaml", "config_hash", "checkpoints", "head", "metrics.jsonl",
               "summary.json", "head.old"}


class RunFolderError(ValueError):
    """Re-running into a run folder whose recorded config differs (or is unreadable)."""


def flatten(cfg: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def recorded_config(cfg: dict) -> dict:
    """``cfg`` without ``RUNTIME_KEYS`` (nested dicts copied, not modified)."""
    flat = {k: v for k, v in flatten(cfg).items() if k not in RUNTIME_KEYS}
    out: dict = {}
    for key, val in flat.items():
        node = out
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = list(val) if isinstance(val, tuple) else val
    return out


def config_hash(cfg: dict) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]


def _differences(old: dict, new: dict) -> list[str]:
    a, b = flatten(old), flatten(new)
    missing = object()
    rows = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, missing), b.get(key, missing)
        if va != vb:
            show = [("(absent)" if v is missing else json.dumps(v)) for v in (va, vb)]
            rows.append(f"  {key}: {show[0]} -> {show[1]}")
    return rows


def _read_record(out_dir: Path) -> dict:
    path = out_dir / "config.yaml"
    try:
        rec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise RunFolderError(f"{path}: unreadable recorded config ({e}); start fresh with "
                             "overwrite=true or use another out_dir") from e
    if not isinstance(rec, dict):
        raise RunFolderError(f"{path}: expected a mapping (the recorded config); start fresh "
                             "with overwrite=true or use another out_dir")
    return rec


def _wipe(out_dir: Path) -> None:
    foreign = sorted(p.name for p in out_dir.iterdir()
                     if p.name not in RUN_ENTRIES and not p.name.startswith("."))
    if foreign:
        raise RunFolderError(f"overwrite=true: {out_dir} holds files that a jakiro run does not "
                             f"write ({', '.join(foreign[:5])}); not deleting it. Use another "
                             "out_dir")
    shutil.rmtree(out_dir)


def prepare_run(out_dir: Path, cfg: dict, overwrite: bool, write: bool = True) -> str:
    """Check (and on first use record) ``cfg`` in ``out_dir``; returns the config hash.

    ``write=False`` only checks (non-main DDP ranks: rank 0 writes).
    """
    record = recorded_config(cfg)
    digest = config_hash(record)
    exists = out_dir.exists() and any(out_dir.iterdir())
    if exists and overwrite:
        if write:
            _wipe(out_dir)
        exists = False
    if exists:
        if not (out_dir / "config_hash").exists():
            raise RunFolderError(
                f"{out_dir} is not empty but has no recorded config (config_hash): it was not "
                "created by this version of jakiro-train, or its creation was interrupted. Use "
                "another out_dir, or overwrite=true to wipe it and start fresh")
        old = _read_record(out_dir)
        diff = _differences(old, record)
        if diff:
            raise RunFolderError(
                f"{out_dir} was created with a different config; differing keys (recorded -> "
                "requested):\n" + "\n".join(diff) + "\nEither choose a new out_dir=<folder> for "
                "this config, or pass overwrite=true to wipe the folder and start fresh")
        return digest
    if write:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out_dir / "config.yaml", yaml.safe_dump(record, sort_keys=True))
        write_text_atomic(out_dir / "config_hash", digest + "\n")
    return digest
