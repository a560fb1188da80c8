"""A run folder is a contract (issue 15): it records the resolved config and its hash when it
is created, and a later run into it must have the same config.

States of `trainer.output_dir` when a training run starts:
- absent or empty: a new run; `config.yaml` and `config_hash` are written (temp + rename).
- holds `config.yaml` with the same config: resume from its checkpoint (or report it finished).
- holds `config.yaml` with a different config: refused before any work, naming every differing
  dotted key and the two ways out (a new output_dir, or `overwrite=true`).
- `overwrite=true`: the folder is wiped and the run starts fresh, but only if it contains
  nothing except what diffusiondialog-train writes (so a mistyped output_dir cannot wipe data).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

from diffusiondialog.checkpoint import atomic_write_text
from diffusiondialog.schema import ConfigError

CONFIG_FILE, HASH_FILE, METRICS_FILE = "config.yaml", "config_hash", "metrics.jsonl"
# Keys that do not change what a run computes: where it lives, how this invocation is sliced,
# whether it may resume or wipe, and the eval section (read by diffusiondialog-eval only).
VOLATILE = ("overwrite", "trainer.resume", "trainer.stop_after", "trainer.output_dir", "eval")
OWN_ENTRIES = {CONFIG_FILE, HASH_FILE, METRICS_FILE, "tokenizer.json", "checkpoint"}
WAYS_OUT = ("choose a new trainer.output_dir, or pass overwrite=true to wipe this folder and "
            "start fresh")


def recorded_config(cfg: DictConfig) -> dict:
    """The resolved config as recorded in (and compared with) a run folder."""
    full = OmegaConf.to_container(cfg, resolve=True)
    for key in VOLATILE:
        section, _, leaf = key.partition(".")
        if leaf:
            full.get(section, {}).pop(leaf, None)
        else:
            full.pop(section, None)
    return full


def config_hash(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def differences(old: dict, new: dict) -> list[str]:
    a, b = flatten(old), flatten(new)
    missing = "<absent>"
    return [f"{k}: {a.get(k, missing)!r} -> {b.get(k, missing)!r}"
            for k in sorted(set(a) | set(b)) if a.get(k, missing) != b.get(k, missing)]


def read_record(out: Path) -> dict:
    path = out / CONFIG_FILE
    try:
        record = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read the run folder's recorded config ({err}); "
                          f"{WAYS_OUT}") from None
    if not isinstance(record, dict):
        raise ConfigError(f"{path}: expected a YAML mapping (the recorded config), got "
                          f"{type(record).__name__}; {WAYS_OUT}")
    return record


def check_run_folder(cfg: DictConfig) -> str:
    """'new', 'resume' or 'overwrite', decided before any work. Raises ConfigError on refusal.

    Read-only, so every DDP rank can call it; `prepare_run_folder` (main process) acts on it.
    """
    out = Path(cfg.trainer.output_dir)
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return "new"
    if not out.is_dir():
        raise ConfigError(f"trainer.output_dir={out} exists and is not a folder")
    if cfg.overwrite:
        foreign = sorted(p.name for p in out.iterdir()
                         if p.name not in OWN_ENTRIES and not p.name.startswith("checkpoint.")
                         and not p.name.endswith(".tmp"))
        if foreign:
            raise ConfigError(f"overwrite=true would wipe {out}, but it holds entries "
                              f"diffusiondialog-train does not write: {foreign}; remove them "
                              "yourself or choose a new trainer.output_dir")
        return "overwrite"
    if not (out / CONFIG_FILE).is_file():
        raise ConfigError(f"trainer.output_dir={out} is not empty but has no {CONFIG_FILE} "
                          f"(not a run folder of this version); {WAYS_OUT}")
    old, new = read_record(out), recorded_config(cfg)
    diff = differences(old, new)
    if diff:
        raise ConfigError(f"run folder {out} was created with a different config "
                          f"({len(diff)} key(s) differ, recorded -> requested):\n  "
                          + "\n  ".join(diff) + f"\nTo proceed, {WAYS_OUT}.")
    if not cfg.trainer.resume:
        raise ConfigError(f"trainer.resume=false, but {out} already holds a run with this "
                          f"config; {WAYS_OUT} (or drop trainer.resume=false to resume it)")
    return "resume"


def prepare_run_folder(cfg: DictConfig, state: str) -> None:
    """Main process only: wipe on overwrite, record the config of a new run."""
    out = Path(cfg.trainer.output_dir)
    if state == "overwrite":
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    if state in ("new", "overwrite"):
        record = recorded_config(cfg)
        atomic_write_text(out / CONFIG_FILE, yaml.safe_dump(record, sort_keys=True))
        atomic_write_text(out / HASH_FILE, config_hash(record) + "\n")


def trim_metrics(out: Path, step: int) -> None:
    """Keep only metrics logged up to `step` (the resumed checkpoint; 0 for a fresh start), so
    a resumed run never appends duplicates of steps it redoes. A torn last line (a kill in the
    middle of a write) is dropped; a corrupt line elsewhere is an error naming the line."""
    path = out / METRICS_FILE
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = []
    for n, line in enumerate(lines, 1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):
                break
            raise ConfigError(f"{path}:{n}: expected one JSON object per line; {WAYS_OUT}") \
                from None
        if int(rec.get("step", 0)) <= step:
            kept.append(line)
    atomic_write_text(path, "".join(x + "\n" for x in kept))
