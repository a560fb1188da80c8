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
    # Persons for hyper-parameter selection only (data.n_dev_forget / n_dev_retain): known to
    # M_o, never in the test sets; None when no dev split is configured.
    dev: Benchmark | None = None


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
    dev, n_dev_f = None, int(cfg.get("n_dev_forget") or 0)
    n_dev_r = int(cfg.get("n_dev_retain") or 0)
    if n_dev_f or n_dev_r:
        _check_dev(n_dev_f, n_dev_r)
        # Drawn after every other person, so adding a dev split changes no test person.
        dev_persons = [factory.person() for _ in range(n_dev_f + n_dev_r)]
        dev = make_benchmark(dev_persons, 0.5, int(cfg.n_train), int(cfg.n_test), int(cfg.seed),
                             [p.name for p in dev_persons[:n_dev_f]])
    known = persons + bystanders + bench.lookalikes + (_whole(dev) if dev else [])
    return World(bench, known, synthetic=True, dev=dev)


def _check_dev(n_forget: int, n_retain: int) -> None:
    if n_forget < 1 or n_retain < 1:
        raise ConfigError(f"data.n_dev_forget and data.n_dev_retain must both be >= 1 for a dev "
                          f"split (got {n_forget} / {n_retain}); set both to 0 for none")


def _whole(bench: Benchmark) -> list[Person]:
    """Each forget/retain person with all their QAs (train + test halves) again."""
    return [Person(a.name, a.qas + b.qas, a.attributes, a.gender, a.biographies) for a, b in
            zip(bench.forget_train + bench.retain_train, bench.forget_test + bench.retain_test,
                strict=True)]


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
    dev = _subsample(bench, cfg)
    known = _whole(bench) + bench.bystanders + (_whole(dev) if dev else [])
    return World(bench, known, synthetic=False, dev=dev)


def _subsample(bench: Benchmark, cfg) -> Benchmark | None:
    """Person-level subsample of the split files for CPU-sized runs, in place.

    `max_persons` keeps the official forget:retain proportion; `max_forget` / `max_retain` set
    the counts directly. `n_bystanders` takes the retain-split persons after the kept ones: the
    original model learns them, unlearning never sees them. `n_dev_forget` / `n_dev_retain`
    take the next persons of each split file as the dev split (returned).
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
    d_f, d_r = int(cfg.get("n_dev_forget") or 0), int(cfg.get("n_dev_retain") or 0)
    if d_f or d_r:
        _check_dev(d_f, d_r)
    if k_f + d_f > n_f or k_r + n_by + d_r > n_r:
        raise ConfigError(f"data: asked for {k_f} + {d_f} dev forget and {k_r} retain + {n_by} "
                          f"bystander + {d_r} dev retain persons, the split files hold {n_f} "
                          f"forget / {n_r} retain")
    dev = None
    if d_f:
        r0 = k_r + n_by
        dev = Benchmark(bench.forget_train[k_f:k_f + d_f], bench.forget_test[k_f:k_f + d_f],
                        bench.retain_train[r0:r0 + d_r], bench.retain_test[r0:r0 + d_r])
    if n_by:  # otherwise keep what the split directory stored (bystanders.jsonl, if any)
        bench.bystanders = [Person(a.name, a.qas + b.qas) for a, b in zip(
            bench.retain_train[k_r:k_r + n_by], bench.retain_test[k_r:k_r + n_by], strict=True)]
    bench.forget_train, bench.forget_test = bench.forget_train[:k_f], bench.forget_test[:k_f]
    bench.retain_train, bench.retain_test = bench.retain_train[:k_r], bench.retain_test[:k_r]
    return dev


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
