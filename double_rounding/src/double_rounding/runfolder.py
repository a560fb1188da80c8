"""A run folder is a contract (issue 15): it records the resolved config and its hash when it
is created; a later run into it with a different config is refused before any work.

Layout of out_dir: config.yaml (the resolved config, run-control keys excluded), config_hash,
checkpoints/ (see checkpoint.py), metrics.jsonl, result.json, model_int8.safetensors (+ .json).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import yaml

from double_rounding.schema import RUN_CONTROL, ConfigError

CONFIG_FILE = "config.yaml"
HASH_FILE = "config_hash"


def recorded_config(cfg: dict) -> dict:
    """The part of the config that decides the result (run-control keys dropped)."""
    return {k: v for k, v in cfg.items() if k not in RUN_CONTROL}


def config_hash(cfg: dict) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()


def flatten(cfg: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in cfg.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def differences(old: dict, new: dict) -> list[str]:
    """Every differing dotted key as 'key: old -> new' (absent keys shown as <absent>)."""
    a, b = flatten(old), flatten(new)
    return [f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}"
            for k in sorted(set(a) | set(b)) if a.get(k, "<absent>") != b.get(k, "<absent>")]


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_recorded(out: Path) -> dict:
    path = out / CONFIG_FILE
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML ({err.__class__.__name__}: "
                          f"{str(err).splitlines()[0]}); the run folder is damaged: use a new "
                          "out_dir, or overwrite=true to wipe it and start fresh") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a config mapping; use a new out_dir, or "
                          "overwrite=true to wipe it and start fresh")
    return data


def prepare(out: Path, cfg: dict, overwrite: bool) -> str:
    """Create or re-open the run folder for `cfg`; returns the config hash.

    Refuses (ConfigError) when the folder was created with a different config, or holds files
    but no recorded config. `overwrite` wipes the folder first.
    """
    record = recorded_config(cfg)
    digest = config_hash(record)
    if overwrite and out.exists():
        shutil.rmtree(out)
    if (out / CONFIG_FILE).is_file():
        old = read_recorded(out)
        if old != record:
            diff = "\n  ".join(differences(old, record))
            raise ConfigError(
                f"run folder {out} was created with a different config:\n  {diff}\n"
                f"Ways out: pass a new out_dir=<folder>, or overwrite=true to wipe {out} and "
                "start fresh.")
        return digest
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"run folder {out} exists and holds files but no {CONFIG_FILE}, so "
                          "its config is unknown; pass a new out_dir=<folder>, or overwrite=true "
                          "to wipe it and start fresh")
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / CONFIG_FILE, yaml.safe_dump(record, sort_keys=False))
    write_atomic(out / HASH_FILE, digest + "\n")
    return digest
