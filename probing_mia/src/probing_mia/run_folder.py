"""The run-folder contract (issue 15): a run folder records its resolved config and hash when
created; a different config is refused before any work, the same config resumes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import yaml

from probing_mia.config import Config, flatten, to_dict
from probing_mia.errors import ConfigError

CONFIG_FILE = "config.yaml"
HASH_FILE = "config_hash"
# Keys that steer how a run is executed, not what it computes.
NOT_HASHED = ("overwrite", "threads", "out_dir")


def hashed_view(cfg: Config) -> dict:
    tree = to_dict(cfg)
    for key in NOT_HASHED:
        tree.pop(key, None)
    return tree


def config_hash(cfg: Config) -> str:
    blob = json.dumps(hashed_view(cfg), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def write_atomic(path: Path, text: str) -> None:
    """Temp file then rename: an interrupted write never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


_ABSENT = "<absent>"


def _differences(old: dict, new: dict) -> list[str]:
    """One line per dotted key whose value differs: '  key: old -> new'."""
    a, b = flatten(old), flatten(new)
    return [f"  {key}: {a.get(key, _ABSENT)!r} -> {b.get(key, _ABSENT)!r}"
            for key in sorted(set(a) | set(b)) if a.get(key, _ABSENT) != b.get(key, _ABSENT)]


def prepare(cfg: Config, out_dir: str | Path | None = None) -> Path:
    """Create (or re-open) the run folder for ``cfg``; refuse a folder made by another config."""
    out = Path(out_dir or cfg.out_dir)
    recorded = out / CONFIG_FILE
    if cfg.overwrite and out.exists():
        shutil.rmtree(out)
    if recorded.is_file():
        try:
            old = yaml.safe_load(recorded.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ConfigError(f"{recorded}: unreadable ({err}); pass overwrite=true to start "
                              "fresh or choose a new out_dir") from None
        new = hashed_view(cfg)
        if old != new:
            diff = "\n".join(_differences(old or {}, new))
            raise ConfigError(
                f"run folder {out} was created with a different config:\n{diff}\n"
                f"Either choose a new out_dir=... or pass overwrite=true to wipe {out} and "
                "start fresh.")
        return out
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists, is not empty and has no {CONFIG_FILE}: not a run "
                          "folder of this config; choose a new out_dir or pass overwrite=true")
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(recorded, yaml.safe_dump(hashed_view(cfg), sort_keys=True))
    write_atomic(out / HASH_FILE, config_hash(cfg) + "\n")
    return out
