"""Typed config schema: every section is a dataclass; checked before any work (issue 15).

:func:`check` merges the composed Hydra config into the structured schema, so an unknown key at
any level (``+methd=ga``, ``+trainer.typo=1``) or a wrong type fails, then applies range checks
(non-positive steps and intervals, negative warm-up, empty lists). Every error names the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from nauf_return.errors import ConfigError


@dataclass
class ModelCfg:
    spec: str = "tiny-llama"
    hidden: int = 64  # tiny-llama only
    layers: int = 2
    heads: int = 4


@dataclass
class DataCfg:
    kind: str = "synthetic"
    path: str | None = None  # return: split directory or RETURN jsonl
    n_persons: int = 20
    n_bystanders: int = 0
    forget_ratio: float = 0.1
    n_train: int = 10
    n_test: int = 10
    seed: int = 0
    forget_names: list[str] | None = None
    lookalikes: bool = True
    max_persons: int | None = None
    max_forget: int | None = None
    max_retain: int | None = None
    n_dev_forget: int = 0
    n_dev_retain: int = 0


@dataclass
class PromptCfg:
    instruction: str = "Question: {question}\nAnswer:"
    max_length: int = 128
    system: str | None = None


@dataclass
class TemplatesCfg:
    refusal: str = "builtin"
    idk: str = "builtin"


@dataclass
class CdaCfg:
    num: int = 10


@dataclass
class SweepCfg:
    lrs: list[float] = field(default_factory=list)


@dataclass
class LoraCfg:
    enabled: bool = False
    r: int = 8
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=list)
    last_layers: int | None = None


@dataclass
class LoopCfg:
    """What both training loops (knowledge injection and unlearning) take."""

    lr: float = 5e-3
    epochs: int = 5
    max_steps: int = -1
    batch_size: int = 8
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    log_every: int = 1
    save_every: int | None = None  # steps between checkpoints (null: at each epoch's end)


@dataclass
class InjectionCfg(LoopCfg):
    enabled: bool = True
    lora: bool = False
    filter: bool = True
    biographies: bool = True
    threshold: float = 0.8
    target_fraction: float = 0.9
    check_every: int = 10
    check_from: int = 0


@dataclass
class TrainerCfg(LoopCfg):
    resume: bool = True  # continue from a verified checkpoint in the run folder, if any


@dataclass
class JudgeCfg:
    kind: str = "attribute"
    threshold: float = 0.75
    model: str | None = None
    min_coverage: float = 0.5
    secondary: str = "none"
    secondary_threshold: float = 0.5


@dataclass
class EvalCfg:
    batch_size: int = 64
    max_new_tokens: int = 16
    robustness: bool = True
    logprob: bool = True
    judge: JudgeCfg = field(default_factory=JudgeCfg)


@dataclass
class Config:
    seed: int = 42
    overwrite: bool = False
    method: str = "nauf"
    methods: list[str] = field(default_factory=list)
    beta: float = 0.1
    output_dir: str = "outputs/tiny"
    experiment_name: str = "tiny"
    threads: int = 1
    results_name: str = "bench"
    results_path: str | None = None  # eval only
    method_lr: dict[str, float] = field(default_factory=dict)
    model: ModelCfg = field(default_factory=ModelCfg)
    data: DataCfg = field(default_factory=DataCfg)
    prompt: PromptCfg = field(default_factory=PromptCfg)
    templates: TemplatesCfg = field(default_factory=TemplatesCfg)
    cda: CdaCfg = field(default_factory=CdaCfg)
    sweep: SweepCfg = field(default_factory=SweepCfg)
    lora: LoraCfg = field(default_factory=LoraCfg)
    injection: InjectionCfg = field(default_factory=InjectionCfg)
    trainer: TrainerCfg = field(default_factory=TrainerCfg)
    eval: EvalCfg = field(default_factory=EvalCfg)


# (dotted key, test, what is expected): applied after the type check.
RANGES: list[tuple[str, Any, str]] = [
    ("seed", lambda v: v >= 0, ">= 0"),
    ("threads", lambda v: v >= 0, ">= 0 (0: torch default)"),
    ("beta", lambda v: v > 0, "> 0"),
    ("data.n_persons", lambda v: v >= 2, ">= 2"),
    ("data.n_bystanders", lambda v: v >= 0, ">= 0"),
    ("data.forget_ratio", lambda v: 0 < v < 1, "in (0, 1)"),
    ("data.n_train", lambda v: v >= 1, ">= 1"),
    ("data.n_test", lambda v: v >= 1, ">= 1"),
    ("data.n_dev_forget", lambda v: v >= 0, ">= 0"),
    ("data.n_dev_retain", lambda v: v >= 0, ">= 0"),
    ("data.max_persons", lambda v: v is None or v >= 2, ">= 2 or null"),
    ("data.max_forget", lambda v: v is None or v >= 1, ">= 1 or null"),
    ("data.max_retain", lambda v: v is None or v >= 1, ">= 1 or null"),
    ("prompt.max_length", lambda v: v >= 16, ">= 16"),
    ("prompt.instruction", lambda v: "{question}" in v, "a string containing {question}"),
    ("cda.num", lambda v: v >= 1, ">= 1"),
    ("sweep.lrs", lambda v: all(x > 0 for x in v), "a list of learning rates > 0"),
    ("method_lr", lambda v: all(x > 0 for x in v.values()), "learning rates > 0"),
    ("methods", lambda v: len(v) >= 1, "a non-empty list of method ids"),
    ("lora.r", lambda v: v >= 1, ">= 1"),
    ("lora.alpha", lambda v: v >= 1, ">= 1"),
    ("lora.dropout", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("lora.target_modules", lambda v: len(v) >= 1, "a non-empty list of module names"),
    ("lora.last_layers", lambda v: v is None or v >= 1, ">= 1 or null"),
    ("injection.threshold", lambda v: 0 < v <= 1, "in (0, 1]"),
    ("injection.target_fraction", lambda v: 0 < v <= 1, "in (0, 1]"),
    ("injection.check_from", lambda v: v >= 0, ">= 0"),
    ("eval.batch_size", lambda v: v >= 1, ">= 1"),
    ("eval.max_new_tokens", lambda v: v >= 1, ">= 1"),
    ("eval.judge.threshold", lambda v: -1 <= v <= 1, "a cosine in [-1, 1]"),
    ("eval.judge.min_coverage", lambda v: 0 < v <= 1, "in (0, 1]"),
    ("eval.judge.secondary", lambda v: v in ("none", "similarity"), "none or similarity"),
    ("eval.judge.kind", lambda v: v in ("keyspan", "attribute", "similarity", "nli"),
     "keyspan, attribute, similarity or nli"),
    ("data.kind", lambda v: v in ("synthetic", "return"), "synthetic or return"),
]
for _loop in ("injection", "trainer"):
    RANGES += [
        (f"{_loop}.lr", lambda v: v > 0, "> 0"),
        (f"{_loop}.epochs", lambda v: v >= 1, ">= 1"),
        (f"{_loop}.batch_size", lambda v: v >= 1, ">= 1"),
        (f"{_loop}.max_steps", lambda v: v == -1 or v >= 1, ">= 1, or -1 for no cap"),
        (f"{_loop}.warmup_ratio", lambda v: 0 <= v < 1, "in [0, 1)"),
        (f"{_loop}.weight_decay", lambda v: v >= 0, ">= 0"),
        (f"{_loop}.log_every", lambda v: v >= 1, ">= 1"),
        (f"{_loop}.save_every", lambda v: v is None or v >= 1,
         ">= 1, or null for a checkpoint at each epoch's end"),
    ]
RANGES.append(("injection.check_every", lambda v: v >= 1, ">= 1"))


def check(cfg: DictConfig) -> DictConfig:
    """The config merged into the schema (types coerced), or one ConfigError naming the key."""
    try:
        raw = OmegaConf.to_container(cfg, resolve=True)
        typed = OmegaConf.merge(OmegaConf.structured(Config), raw)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        msg = str(err).splitlines()[0]
        raise ConfigError(f"config key '{key}': {msg} (unknown keys and wrong types are "
                          "rejected; see nauf_return/schema.py for every key)") from None
    for key, ok, expected in RANGES:
        value = OmegaConf.select(typed, key)
        if isinstance(value, DictConfig | ListConfig):
            value = OmegaConf.to_container(value)
        if not ok(value):
            raise ConfigError(f"config key '{key}' must be {expected}, got {value!r}")
    return typed
