"""Typed config schema: every section is a dataclass; unknown keys, wrong types and
out-of-range values are rejected before any work, naming the dotted key."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from probing_mia.errors import ConfigError


@dataclass
class CorpusConfig:
    """Setting 1/2: a random split of real text into B / M / N / P / Q (exact membership)."""

    source_dir: str = "../../shared/data/arxivmia"
    n_members: int = 200
    n_nonmembers: int = 200
    n_pseudo_members: int = 100
    n_pseudo_nonmembers: int = 100
    max_background: int | None = None  # None: every remaining text is background
    dev_fraction: float = 0.2  # of M and of N, for layer / k selection
    duplication: int = 5  # copies of every member in the target's training data
    train_background: bool = True  # False: inject members only (continued pre-training)
    split_seed: int = 0


@dataclass
class ModelConfig:
    spec: str = "tiny-llama"  # tiny-llama | smollm2-135m-instruct | a local HF directory
    vocab_size: int = 2048  # BPE vocabulary trained on the corpus (tiny-llama only)
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    intermediate: int = 256
    max_length: int = 256  # tokens per text (longer texts are truncated)


@dataclass
class TrainerConfig:
    epochs: int = 4
    lr: float = 3.0e-3
    batch_size: int = 16
    warmup_steps: int = 20
    weight_decay: float = 0.01
    max_steps: int | None = None  # None: epochs decide
    save_every: int = 50
    log_every: int = 10
    train_ref: bool = True  # also train the true reference model on B only (Ref attack)


@dataclass
class ProxyConfig:
    schedule: str = "paper"  # paper: whole set as one batch, constant LR; gentle: small batches
    lr: float = 1.0e-3
    epochs: int = 2
    batch_size: int | None = None  # None: the whole pseudo-member set is one batch
    lora: bool = False
    lora_r: int = 8


@dataclass
class ProbeConfig:
    steps: int = 1000
    lr: float = 1.0e-3
    weight_decay: float = 0.1
    layer: int | None = None  # None: pick on dev; an int fixes the layer
    standardisation: list[str] = field(default_factory=lambda: ["transductive", "inductive"])
    probe_data: str = "real"  # real: pseudo-members P / Q from the corpus; or a JSONL path


@dataclass
class AttackConfig:
    names: list[str] = field(default_factory=lambda: ["loss", "zlib", "lowercase", "ref",
                                                      "mink", "minkpp", "neighbor", "blind"])
    ks: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0])
    n_neighbours: int = 8
    neighbour_fraction: float = 0.15


@dataclass
class MetricConfig:
    bootstrap: int = 1000
    fprs: list[float] = field(default_factory=lambda: [0.05, 0.01])


@dataclass
class BenchmarkConfig:
    """Eval on benchmark labels (ArxivMIA / WikiMIA JSONL) instead of the controlled corpus:
    the target is ``model.spec`` as is; labels are the benchmark's (temporal, not true
    membership, for any model not trained on its members)."""

    dev: str | None = None
    test: str | None = None


@dataclass
class Config:
    experiment_name: str = "tiny"
    out_dir: str = "runs/tiny/train"
    target_dir: str | None = None  # eval: a finished probing_mia-train run folder
    seed: int = 0
    threads: int = 1
    batch_size: int = 16  # scoring / activation batches
    overwrite: bool = False
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    attacks: AttackConfig = field(default_factory=AttackConfig)
    metrics: MetricConfig = field(default_factory=MetricConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)


KNOWN_ATTACKS = ("loss", "zlib", "lowercase", "ref", "mink", "minkpp", "neighbor", "blind")


def _positive(value, key: str) -> None:
    if value is not None and value <= 0:
        raise ConfigError(f"{key}: must be > 0, got {value}")


def _fraction(value: float, key: str) -> None:
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"{key}: must be in (0, 1], got {value}")


def validate(cfg: Config) -> Config:
    """Range checks the type system cannot express."""
    c = cfg.corpus
    for name in ("n_members", "n_nonmembers", "n_pseudo_members", "n_pseudo_nonmembers",
                 "duplication"):
        _positive(getattr(c, name), f"corpus.{name}")
    _positive(c.max_background, "corpus.max_background")
    if not 0.0 < c.dev_fraction < 1.0:
        raise ConfigError(f"corpus.dev_fraction: must be in (0, 1), got {c.dev_fraction}")
    m = cfg.model
    for name in ("vocab_size", "hidden", "layers", "heads", "intermediate", "max_length"):
        _positive(getattr(m, name), f"model.{name}")
    if m.hidden % m.heads:
        raise ConfigError(f"model.hidden ({m.hidden}) must be divisible by model.heads ({m.heads})")
    t = cfg.trainer
    for name in ("epochs", "lr", "batch_size", "save_every", "log_every", "max_steps"):
        _positive(getattr(t, name), f"trainer.{name}")
    if t.warmup_steps < 0:
        raise ConfigError(f"trainer.warmup_steps: must be >= 0, got {t.warmup_steps}")
    if t.weight_decay < 0:
        raise ConfigError(f"trainer.weight_decay: must be >= 0, got {t.weight_decay}")
    p = cfg.proxy
    if p.schedule not in ("paper", "gentle"):
        raise ConfigError(f"proxy.schedule: expected 'paper' or 'gentle', got {p.schedule!r}")
    for name in ("lr", "epochs", "batch_size", "lora_r"):
        _positive(getattr(p, name), f"proxy.{name}")
    pr = cfg.probe
    for name in ("steps", "lr"):
        _positive(getattr(pr, name), f"probe.{name}")
    if pr.layer is not None and pr.layer < 0:
        raise ConfigError(f"probe.layer: must be >= 0 or null, got {pr.layer}")
    bad = set(pr.standardisation) - {"transductive", "inductive"}
    if bad or not pr.standardisation:
        raise ConfigError("probe.standardisation: a non-empty subset of "
                          f"['transductive', 'inductive'], got {pr.standardisation}")
    a = cfg.attacks
    unknown = [n for n in a.names if n not in KNOWN_ATTACKS]
    if unknown:
        raise ConfigError(f"attacks.names: unknown {unknown}; known: {list(KNOWN_ATTACKS)}")
    if not a.ks:
        raise ConfigError("attacks.ks: must not be empty")
    for k in a.ks:
        _fraction(k, "attacks.ks")
    _positive(a.n_neighbours, "attacks.n_neighbours")
    _fraction(a.neighbour_fraction, "attacks.neighbour_fraction")
    _positive(cfg.metrics.bootstrap, "metrics.bootstrap")
    for fpr in cfg.metrics.fprs:
        _fraction(fpr, "metrics.fprs")
    if (cfg.benchmark.dev is None) != (cfg.benchmark.test is None):
        raise ConfigError("benchmark.dev and benchmark.test: set both (benchmark labels) or "
                          "neither (the controlled corpus)")
    if cfg.benchmark.dev is not None and cfg.probe.probe_data == "real":
        raise ConfigError("probe.probe_data: benchmark mode needs a JSONL of probe-training "
                          "texts (e.g. arxiv_mia_train_real.jsonl), not 'real'")
    _positive(cfg.threads, "threads")
    _positive(cfg.batch_size, "batch_size")
    return cfg


def load(raw: DictConfig | dict) -> Config:
    """Merge a composed Hydra config into the schema; one ConfigError naming the key on failure."""
    schema = OmegaConf.structured(Config)
    try:
        merged = OmegaConf.merge(schema, raw)
        cfg = OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        msg = str(err).splitlines()[0]
        raise ConfigError(f"config key '{key}': {msg} (see configs/ and config.py)") from None
    return validate(cfg)


def to_dict(cfg: Config) -> dict:
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)


def flatten(tree: dict, prefix: str = "") -> dict:
    """Nested dict -> {"a.b.c": value}."""
    out = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out

