"""Builds the benchmark named by the data config: synthetic persons or RETURN files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nauf_return.errors import ConfigError
from nauf_return.records import Person, read_persons
from nauf_return.splits import Benchmark, make_benchmark, read_benchmark
from nauf_return.synthetic import generate_persons


@dataclass
class World:
    bench: Benchmark
    # Every person the original model must know (knowledge injection), with all their QAs.
    known: list[Person]
    synthetic: bool


def _synthetic(cfg) -> World:
    n = int(cfg.n_persons)
    if n < 2:
        raise ConfigError(f"data.n_persons must be >= 2, got {n}")
    persons, factory = generate_persons(n, int(cfg.seed))
    bystanders = [factory.person() for _ in range(int(cfg.get("n_bystanders", 0)))]
    bench = make_benchmark(persons, float(cfg.forget_ratio), int(cfg.n_train), int(cfg.n_test),
                           int(cfg.seed), cfg.get("forget_names"), bystanders)
    forget = set(bench.forget_names)
    if cfg.get("lookalikes", True):
        bench.lookalikes = [x for p in persons if p.name in forget
                            for x in factory.lookalikes(p)]
    return World(bench, persons + bystanders + bench.lookalikes, synthetic=True)


def _return(cfg) -> World:
    path = Path(str(cfg.path))
    if path.is_dir():
        bench = read_benchmark(path)
        if cfg.get("forget_names"):
            missing = set(cfg.forget_names) - set(bench.forget_names)
            if missing:
                raise ConfigError(f"data.forget_names: not in {path}/forget_*.jsonl: "
                                  f"{sorted(missing)}")
    elif path.is_file():
        persons = read_persons(path)
        bench = make_benchmark(persons, float(cfg.forget_ratio), int(cfg.n_train),
                               int(cfg.n_test), int(cfg.seed), cfg.get("forget_names"))
    else:
        raise ConfigError(f"data.path: not found: {path} (expected a split directory or a "
                          "RETURN jsonl file)")
    _subsample(bench, cfg)
    known = [Person(a.name, a.qas + b.qas) for a, b in
             zip(bench.forget_train + bench.retain_train, bench.forget_test + bench.retain_test,
                 strict=True)]
    return World(bench, known + bench.bystanders, synthetic=False)


def _subsample(bench: Benchmark, cfg) -> None:
    """Person-level subsample of the split files for CPU-sized runs, in place.

    `max_persons` keeps the official forget:retain proportion; `max_forget` / `max_retain` set
    the counts directly. `n_bystanders` takes the retain-split persons after the kept ones: the
    original model learns them, unlearning never sees them.
    """
    n_f, n_r = len(bench.forget_train), len(bench.retain_train)
    k_f, k_r = n_f, n_r
    if cfg.get("max_persons"):
        limit = int(cfg.max_persons)
        k_f = max(1, round(n_f * limit / (n_f + n_r)))
        k_r = max(1, limit - k_f)
    k_f = int(cfg.get("max_forget") or k_f)
    k_r = int(cfg.get("max_retain") or k_r)
    n_by = int(cfg.get("n_bystanders") or 0)
    if k_f > n_f or k_r + n_by > n_r:
        raise ConfigError(f"data: asked for {k_f} forget and {k_r} retain + {n_by} bystander "
                          f"persons, the split files hold {n_f} forget / {n_r} retain")
    if n_by:  # otherwise keep what the split directory stored (bystanders.jsonl, if any)
        bench.bystanders = [Person(a.name, a.qas + b.qas) for a, b in zip(
            bench.retain_train[k_r:k_r + n_by], bench.retain_test[k_r:k_r + n_by], strict=True)]
    bench.forget_train, bench.forget_test = bench.forget_train[:k_f], bench.forget_test[:k_f]
    bench.retain_train, bench.retain_test = bench.retain_train[:k_r], bench.retain_test[:k_r]


def build_world(cfg) -> World:
    kind = cfg.get("kind")
    if kind == "synthetic":
        return _synthetic(cfg)
    if kind == "return":
        return _return(cfg)
    raise ConfigError(f"data.kind: unknown dataset kind {kind!r}; expected synthetic|return")


def filter_bench(bench: Benchmark, keep: set[str]) -> Benchmark:
    """Drop forget/retain persons the original model has not memorised (RETURN filter)."""
    def sel(persons):
        return [p for p in persons if p.name in keep]
    out = Benchmark(sel(bench.forget_train), sel(bench.forget_test), sel(bench.retain_train),
                    sel(bench.retain_test), bench.bystanders, bench.lookalikes)
    if not out.forget_train or not out.retain_train:
        raise ConfigError("memorisation filter left no forget or no retain persons; train the "
                          "original model longer (injection.max_epochs) or lower the threshold")
    return out
