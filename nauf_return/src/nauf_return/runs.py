"""A run folder is a contract (issue 15): it records the config it was created with.

``config.yaml`` (the fully resolved config) and ``config_hash`` are written when the folder is
created. A later run into the same folder with a different config is refused before any work;
with the same config it resumes (verified checkpoints) or reports the finished result.
``overwrite=true`` wipes the folder and starts fresh.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

from nauf_return.errors import ConfigError
from nauf_return.records import atomic_write_text

CONFIG_FILE = "config.yaml"
HASH_FILE = "config_hash"
# Run control, not part of what a run computes: changing them never invalidates a folder
# (output_dir: the folder itself, however it is spelled, relative or absolute).
IGNORED = ("overwrite", "threads", "trainer.resume", "output_dir")
# Created before our code runs (Hydra's log folder) or by the Makefile (a linked M_o).
PRELUDE = {"hydra", "original"}


def recorded_config(cfg: DictConfig) -> dict:
    return _without_ignored(OmegaConf.to_container(cfg, resolve=True))


def _without_ignored(data: dict) -> dict:
    for key in IGNORED:
        head, _, leaf = key.rpartition(".")
        (data.get(head, {}) if head else data).pop(leaf, None)
    return data


def config_hash(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def flatten(data, prefix: str = "") -> dict[str, object]:
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            out |= flatten(v, f"{prefix}{k}.")
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): data}


def differences(old: dict, new: dict) -> list[str]:
    a, b = flatten(old), flatten(new)
    missing = "<absent>"
    return [f"{k}: {a.get(k, missing)!r} -> {b.get(k, missing)!r}"
            for k in sorted(set(a) | set(b)) if a.get(k, missing) != b.get(k, missing)]


def read_recorded(out_dir: Path) -> dict:
    path = out_dir / CONFIG_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]}); the run "
                          "folder is damaged: use a new output_dir or overwrite=true") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected the recorded config (a mapping); use a new "
                          "output_dir or overwrite=true")
    return data


def check_same(out_dir: Path, cfg: DictConfig, ignore: tuple[str, ...] = ()) -> None:
    """Refuse when ``out_dir`` was created with another config (``ignore``: top-level sections
    the caller may change, e.g. ``eval`` for the evaluation entry point)."""
    old, new = _without_ignored(read_recorded(out_dir)), recorded_config(cfg)
    for key in ignore:
        old.pop(key, None)
        new.pop(key, None)
    diff = differences(old, new)
    if diff:
        lines = "\n  ".join(diff)
        raise ConfigError(
            f"{out_dir} was created with a different config; differing keys (recorded -> "
            f"now):\n  {lines}\nUse a new output_dir=..., or overwrite=true to wipe the folder "
            "and start fresh.")


def prepare(out_dir: Path, cfg: DictConfig, is_main: bool = True) -> str:
    """Create or re-enter a run folder; returns the config hash. Call before any work."""
    out_dir = Path(out_dir)
    if bool(cfg.overwrite) and is_main:
        wipe(out_dir)
    recorded = out_dir / CONFIG_FILE
    if recorded.is_file():
        check_same(out_dir, cfg)
        return (out_dir / HASH_FILE).read_text().strip() if (out_dir / HASH_FILE).is_file() \
            else config_hash(read_recorded(out_dir))
    foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in PRELUDE) \
        if out_dir.is_dir() else []
    if foreign:
        raise ConfigError(f"{out_dir} holds {foreign[:4]} but no {CONFIG_FILE}: not a run folder "
                          "of this version; use a new output_dir=..., or overwrite=true")
    data = recorded_config(cfg)
    digest = config_hash(data)
    if is_main:
        atomic_write_text(recorded, yaml.safe_dump(data, sort_keys=False))
        atomic_write_text(out_dir / HASH_FILE, digest + "\n")
    return digest


def wipe(out_dir: Path) -> None:
    """``overwrite=true``: remove everything but the Hydra log folder and a linked M_o."""
    if not out_dir.is_dir():
        return
    for p in out_dir.iterdir():
        if p.name == "hydra" or (p.name == "original" and p.is_symlink()):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
