"""Seeded forget/retain person splits, per-person train/test QA splits, and the split writer.

The official ``construction.py`` shuffles without a seed; here every shuffle draws from a
``random.Random`` seeded by (seed, purpose[, person name]) so a split never depends on the order
in which other persons were processed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path

from nauf_return.errors import ConfigError
from nauf_return.records import Person, atomic_write_text, read_persons, write_persons

SPLIT_FILES = {
    "forget_train": "forget_train.jsonl",
    "forget_test": "forget_eval.jsonl",
    "retain_train": "retain_train.jsonl",
    "retain_test": "retain_eval.jsonl",
}


@dataclass
class Benchmark:
    """Everything an unlearning run and its evaluation need, person-aligned."""

    forget_train: list[Person]
    forget_test: list[Person]
    retain_train: list[Person]
    retain_test: list[Person]
    # Beyond the paper: persons never seen during unlearning, and persons sharing a surname or
    # profession with a forget person; both only evaluated.
    bystanders: list[Person] = field(default_factory=list)
    lookalikes: list[Person] = field(default_factory=list)

    @property
    def forget_names(self) -> list[str]:
        return [p.name for p in self.forget_train]


def split_persons(
    persons: list[Person], forget_ratio: float, seed: int, forget_names: list[str] | None = None
) -> tuple[list[Person], list[Person]]:
    """Return (forget, retain). ``forget_names`` pins the forget set instead of sampling it."""
    names = [p.name for p in persons]
    if len(set(names)) != len(names):
        raise ConfigError("data: person names must be unique")
    if forget_names:
        missing = [n for n in forget_names if n not in set(names)]
        if missing:
            raise ConfigError(f"data.forget_names: persons not in the data: {missing}")
        chosen = set(forget_names)
    else:
        if not 0.0 < forget_ratio < 1.0:
            raise ConfigError(f"data.forget_ratio must be in (0, 1), got {forget_ratio}")
        order = sorted(names)
        random.Random(f"{seed}:persons").shuffle(order)
        n_forget = max(1, int(forget_ratio * len(order)))
        chosen = set(order[:n_forget])
    forget = [p for p in persons if p.name in chosen]
    retain = [p for p in persons if p.name not in chosen]
    return forget, retain


def split_qas(person: Person, n_train: int, n_test: int, seed: int) -> tuple[Person, Person]:
    """Split one person's QAs into disjoint train and test halves, seeded per person."""
    if len(person.qas) < n_train + n_test:
        raise ConfigError(
            f"data: person '{person.name}' has {len(person.qas)} QAs, "
            f"expected at least n_train + n_test = {n_train + n_test}"
        )
    order = list(range(len(person.qas)))
    random.Random(f"{seed}:qas:{person.name}").shuffle(order)
    train = [person.qas[i] for i in order[:n_train]]
    test = [person.qas[i] for i in order[n_train : n_train + n_test]]
    return replace(person, qas=train), replace(person, qas=test)


def make_benchmark(
    persons: list[Person],
    forget_ratio: float,
    n_train: int,
    n_test: int,
    seed: int,
    forget_names: list[str] | None = None,
    bystanders: list[Person] | None = None,
    lookalikes: list[Person] | None = None,
) -> Benchmark:
    forget, retain = split_persons(persons, forget_ratio, seed, forget_names)
    f_pairs = [split_qas(p, n_train, n_test, seed) for p in forget]
    r_pairs = [split_qas(p, n_train, n_test, seed) for p in retain]
    return Benchmark(
        forget_train=[a for a, _ in f_pairs],
        forget_test=[b for _, b in f_pairs],
        retain_train=[a for a, _ in r_pairs],
        retain_test=[b for _, b in r_pairs],
        bystanders=list(bystanders or []),
        lookalikes=list(lookalikes or []),
    )


def write_benchmark(directory: str | Path, bench: Benchmark, meta: dict) -> dict:
    """Write every split plus ``manifest.json`` with a sha256 per file (content hashes)."""
    directory = Path(directory)
    hashes = {}
    parts = dict(SPLIT_FILES, bystanders="bystanders.jsonl", lookalikes="lookalikes.jsonl")
    for attr, filename in parts.items():
        persons = getattr(bench, attr)
        if persons:
            hashes[filename] = write_persons(directory / filename, persons)
    manifest = {"files": hashes, **meta}
    atomic_write_text(directory / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_benchmark(directory: str | Path) -> Benchmark:
    """Read split files in the official layout (``forget_eval.jsonl`` etc.)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"data.path: split directory not found: {directory}")
    parts = {}
    for attr, filename in SPLIT_FILES.items():
        parts[attr] = read_persons(directory / filename)
    extra = {}
    for attr in ("bystanders", "lookalikes"):
        path = directory / f"{attr}.jsonl"
        extra[attr] = read_persons(path) if path.is_file() else []
    bench = Benchmark(**parts, **extra)
    for a, b in (("forget_train", "forget_test"), ("retain_train", "retain_test")):
        if [p.name for p in parts[a]] != [p.name for p in parts[b]]:
            raise ConfigError(f"{directory}: persons of {a} and {b} files differ in order or set")
    overlap = set(bench.forget_names) & {p.name for p in bench.retain_train}
    if overlap:
        raise ConfigError(f"{directory}: persons in both forget and retain: {sorted(overlap)[:5]}")
    return bench
