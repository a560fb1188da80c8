"""The run-folder contract: a folder records the resolved config and its hash when created; a
re-run with another config is refused before any work, naming every differing key."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

# keys that do not change what a run computes, so they may differ between invocations
UNHASHED = ("overwrite", "progress", "out_dir")


class RunFolderError(RuntimeError):
    """The run folder cannot be used with this config (message says why and the ways out)."""


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")


def hashed_view(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in UNHASHED}


def config_hash(config: dict) -> str:
    blob = json.dumps(hashed_view(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def differences(old: dict, new: dict) -> list[str]:
    a, b = flatten(hashed_view(old)), flatten(hashed_view(new))
    missing = "<absent>"
    return [f"  {k}: {a.get(k, missing)!r} -> {b.get(k, missing)!r}"
            for k in sorted(set(a) | set(b)) if a.get(k, missing) != b.get(k, missing)]


def check(out_dir: Path, config: dict, overwrite: bool) -> bool:
    """Read-only: True when `out_dir` already records this config; RunFolderError when it records
    another (or is not a run folder). Safe to call from every rank before any barrier."""
    recorded = out_dir / "config.yaml"
    if overwrite or not out_dir.exists():
        return False
    if not recorded.is_file():
        if any(out_dir.iterdir()):
            raise RunFolderError(f"{out_dir} exists and is not a run folder (no config.yaml); "
                                 f"choose a new out_dir=... or pass overwrite=true to wipe it")
        return False
    try:
        old = yaml.safe_load(recorded.read_text())
    except yaml.YAMLError as err:
        raise RunFolderError(f"{recorded} is not valid YAML ({err}); pass overwrite=true to "
                             f"start fresh or choose a new out_dir") from None
    diff = differences(old or {}, config)
    if diff:
        raise RunFolderError(
            f"{out_dir} was created with a different config; differing keys (old -> new):\n"
            + "\n".join(diff)
            + f"\nEither choose a new out_dir=... or pass overwrite=true to wipe {out_dir} "
              f"and start fresh.")
    return True


def prepare(out_dir: Path, config: dict, overwrite: bool) -> str:
    """Create or re-open `out_dir` for `config`. Returns "new" or "existing"; raises
    RunFolderError (before touching anything) when the folder holds another config."""
    if check(out_dir, config, overwrite):
        return "existing"
    if overwrite and out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "config_hash", config_hash(config) + "\n")
    write_text_atomic(out_dir / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    return "new"
