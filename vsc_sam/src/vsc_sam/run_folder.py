"""A run folder is a contract: it records the resolved config it was created with and its hash;
re-running into it with another config is refused before any work (CONTRIBUTING.md, issue 15).

Also the provenance every results JSON carries: exact command line, Hydra overrides, code version.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from vsc_sam.checkpoint import atomic_text

RECORD = "config.json"
HASH = "config_hash"
ROOT = Path(__file__).resolve().parents[2]


class RunFolderError(RuntimeError):
    """Re-running into a folder created with another config (or that is not a run folder)."""


def config_hash(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def flatten(tree, prefix: str = "") -> dict[str, object]:
    """Dotted keys of nested dicts (lists are leaf values)."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, object] = {}
    for key, value in tree.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def differences(old: dict, new: dict) -> list[str]:
    a, b = flatten(old), flatten(new)
    missing = object()
    rows = []
    for key in sorted(set(a) | set(b)):
        before, after = a.get(key, missing), b.get(key, missing)
        if before != after:
            show = lambda v: "(absent)" if v is missing else json.dumps(v)  # noqa: E731
            rows.append(f"  {key}: {show(before)} -> {show(after)}")
    return rows


def identity_of(config: dict, ignore: tuple[str, ...]) -> dict:
    """``config`` without the (dotted) keys in ``ignore``: what decides a run's outputs."""
    out = json.loads(json.dumps(config))
    for key in ignore:
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(leaf, None)
    return out


def check_record(folder: str | Path, config: dict, ignore: tuple[str, ...]) -> bool:
    """True when ``folder`` was created with this ``config`` (minus the top-level keys
    ``ignore``), False when it does not exist or is empty. A folder created with another config,
    or a non-empty folder without a record, raises ``RunFolderError`` listing every differing
    dotted key and the two ways out."""
    folder = Path(folder)
    identity = identity_of(config, ignore)
    record = folder / RECORD
    if record.is_file():
        try:
            old = json.loads(record.read_text())["identity"]
        except (json.JSONDecodeError, KeyError) as error:
            raise RunFolderError(
                f"{record}: unreadable run record ({error}); choose a new output folder or pass "
                "overwrite=true to wipe it"
            ) from None
        if old != identity:
            raise RunFolderError(
                f"{folder} was created with a different config (hash {config_hash(old)}, now "
                f"{config_hash(identity)}); differing keys (old -> new):\n"
                + "\n".join(differences(old, identity))
                + "\nEither choose a new output folder (output_dir=... / checkpoint=... / "
                "eval.run_dir=...) or pass overwrite=true to wipe this one and start fresh."
            )
        return True
    if folder.is_dir() and any(folder.iterdir()):
        raise RunFolderError(
            f"{folder} holds files but no {RECORD}, so it was not created by this code with a "
            "known config; choose a new output folder or pass overwrite=true to wipe it"
        )
    return False


def claim(folder: str | Path, config: dict, ignore: tuple[str, ...], overwrite: bool) -> bool:
    """Make ``folder`` the run folder of ``config``: True when it already was (resume or report
    the finished run), False when it is created now. ``overwrite`` wipes it first."""
    folder = Path(folder)
    if overwrite and folder.exists():
        shutil.rmtree(folder)
    if check_record(folder, config, ignore):
        return True
    write_record(folder, config, identity_of(config, ignore))
    return False


def write_record(folder: Path, config: dict, identity: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"config_hash": config_hash(identity), "identity": identity, "config": config}
    atomic_text(folder / RECORD, json.dumps(payload, indent=1))
    atomic_text(folder / HASH, config_hash(identity) + "\n")


def swap_in(stage: Path, final: Path) -> None:
    """Replace ``final`` by the complete folder ``stage`` (two renames; ``recover`` undoes a
    crash between them)."""
    old = final.parent / f".{final.name}.old"
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.rename(final, old)
    os.rename(stage, final)
    shutil.rmtree(old, ignore_errors=True)


def recover(final: Path) -> None:
    """Undo what a killed run left beside ``final``: a crash between ``swap_in``'s renames left
    only the previous run, under ``.<name>.old``; a kill during the work left a stage folder
    ``.<name>.tmp-*`` (never read; removed)."""
    old = final.parent / f".{final.name}.old"
    if old.is_dir() and not final.exists():
        os.rename(old, final)
    for stage in final.parent.glob(f".{final.name}.tmp-*"):
        shutil.rmtree(stage, ignore_errors=True)


def command_line() -> str:
    """The exact command line of this process (``python -m module args`` for module runs)."""
    argv = list(sys.argv)
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and argv and argv[0].endswith(".py"):
        return shlex.join(["python", "-m", spec.name.removesuffix(".__main__"), *argv[1:]])
    return shlex.join(["python", *argv])  # a script: python path/to/script.py args


def hydra_overrides() -> list[str]:
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except ValueError:  # composed outside a Hydra run (tests): no overrides recorded by Hydra
        return []


def code_version() -> dict:
    """Git commit of the checkout (and whether the subproject has uncommitted changes)."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    from vsc_sam import __version__

    dirty = git("status", "--porcelain", "--", ".")
    return {
        "package": __version__,
        "git_commit": git("rev-parse", "HEAD"),
        "uncommitted_changes": None if dirty is None else bool(dirty),
    }


def provenance(config: dict, ignore: tuple[str, ...]) -> dict:
    """Fields every results JSON carries: resolved config + hash, overrides, command, code."""
    return {
        "config": config,
        "config_hash": config_hash(identity_of(config, ignore)),
        "overrides": hydra_overrides(),
        "command": command_line(),
        "code_version": code_version(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "hardware": (
            f"{platform.machine()} CPU, {os.cpu_count()} cores, torch "
            f"{torch.__version__}, {torch.get_num_threads()} thread(s); shared machine, timings "
            "are not headline numbers"
        ),
    }
