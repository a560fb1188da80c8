"""Typed config schemas: every section is a dataclass, checked before any work.

Hydra composes plain dicts; ``build`` turns one into its dataclass and rejects, naming the dotted
key, any unknown key (``+train.typo=1`` included), a wrong type and (in ``__post_init__``) an
out-of-range value.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field

DTYPES = ("float32", "bfloat16")


class ConfigError(ValueError):
    """A config key is unknown, mistyped or out of range; the message names the key."""


def _check(ok: bool, key: str, what: str) -> None:
    if not ok:
        raise ConfigError(f"config key {key!r}: {what}")


def _coerce(value: object, tp: object, key: str) -> object:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0])
    if dataclasses.is_dataclass(tp):
        _check(isinstance(value, dict), key, f"expected a section (mapping), got {value!r}")
        return build(tp, value, key)
    if origin is list:
        _check(isinstance(value, (list, tuple)), key, f"expected a list, got {value!r}")
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _check(isinstance(value, dict), key, f"expected a mapping, got {value!r}")
        return {str(k): _coerce(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if tp is float:
        _check(isinstance(value, (int, float)) and not isinstance(value, bool), key,
               f"expected a number, got {value!r}")
        return float(value)
    if tp is int:
        _check(isinstance(value, int) and not isinstance(value, bool), key,
               f"expected an integer, got {value!r}")
        return value
    if tp is bool:
        _check(isinstance(value, bool), key, f"expected true/false, got {value!r}")
        return value
    if tp is str:
        _check(isinstance(value, str), key, f"expected a string, got {value!r}")
        return value
    raise TypeError(f"schema type {tp} of {key} is not handled")


def build(cls: type, data: dict, prefix: str = "") -> object:
    """``cls(**data)`` with unknown keys, types and ranges checked (errors name the key)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    dotted = (prefix + ".") if prefix else ""
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"config key {dotted + unknown[0]!r}: unknown key (valid keys of "
                          f"{prefix or 'the top level'}: {', '.join(sorted(names))})")
    kwargs = {k: _coerce(v, hints[k], dotted + k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except TypeError as e:  # a required key is missing
        raise ConfigError(f"config section {prefix or 'top level'}: {e}") from None


def positive(key: str, value: float) -> None:
    _check(value > 0, key, f"must be > 0, got {value}")


def in_range(key: str, value: float, lo: float, hi: float) -> None:
    _check(lo <= value <= hi, key, f"must be in [{lo}, {hi}], got {value}")


@dataclass
class ModelConfig:
    spec: str = "smollm2-135m-instruct"
    exit_layer: int = 2  # l: the draft is layers [0, l) + adapter; checked against N on load
    dtype: str = "float32"

    def __post_init__(self) -> None:
        _check(self.exit_layer >= 1, "model.exit_layer", f"must be >= 1, got {self.exit_layer}")
        _check(self.dtype in DTYPES, "model.dtype", f"must be one of {DTYPES}, got {self.dtype!r}")


@dataclass
class DataConfig:
    conversations: str = "chitchat"  # chitchat | synthetic | a ShareGPT JSON file
    self_distill: bool = True  # the target writes the assistant turns (chitchat only)
    num_conversations: int = 32
    max_len: int = 160
    answer_tokens: int = 48  # new tokens per self-distilled answer
    seed: int = 42
    cache_dir: str = ""  # self-distilled data cache; empty = ~/.cache/kangaroo/selfdistill

    def __post_init__(self) -> None:
        positive("data.num_conversations", self.num_conversations)
        _check(self.max_len >= 8, "data.max_len", f"must be >= 8, got {self.max_len}")
        positive("data.answer_tokens", self.answer_tokens)


@dataclass
class AdapterConfig:
    num_attention_heads: int = 0  # 0 = the target's head geometry (paper: same as target)
    num_key_value_heads: int = 0

    def __post_init__(self) -> None:
        _check(self.num_attention_heads >= 0, "adapter.num_attention_heads", "must be >= 0")
        _check(self.num_key_value_heads >= 0, "adapter.num_key_value_heads", "must be >= 0")


@dataclass
class TrainConfig:
    lr: float = 5e-5
    weight_decay: float = 0.01
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    warmup_steps: int = 20
    max_steps: int = 200
    batch_size: int = 4
    grad_clip_value: float = 0.5
    feature_loss_weight: float = 0.0  # ablation: smooth-L1 to the target's final feature
    log_every: int = 10
    save_every: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        positive("train.lr", self.lr)
        _check(self.weight_decay >= 0, "train.weight_decay", "must be >= 0")
        _check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "train.betas",
               f"must be two numbers in [0, 1), got {self.betas}")
        _check(self.warmup_steps >= 0, "train.warmup_steps",
               f"must be >= 0, got {self.warmup_steps}")
        for key in ("max_steps", "batch_size", "grad_clip_value", "log_every", "save_every"):
            positive(f"train.{key}", getattr(self, key))
        _check(self.feature_loss_weight >= 0, "train.feature_loss_weight", "must be >= 0")


@dataclass
class DecodeConfig:
    gamma: int = 6  # maximum draft length (chain) / depth (tree)
    eta: float = 0.6  # second early exit: keep drafting while top-1 confidence > eta
    tree_top_k: int = 10
    tree_max_nodes: int = 24  # draft tokens per tree (verification width)
    max_new_tokens: int = 64
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        positive("decode.gamma", self.gamma)
        in_range("decode.eta", self.eta, 0.0, 1.0)
        positive("decode.tree_top_k", self.tree_top_k)
        positive("decode.tree_max_nodes", self.tree_max_nodes)
        positive("decode.max_new_tokens", self.max_new_tokens)
        _check(self.temperature >= 0, "decode.temperature", "must be >= 0")
        _check(self.top_k >= 0, "decode.top_k", "must be >= 0")
        _check(0 < self.top_p <= 1, "decode.top_p", f"must be in (0, 1], got {self.top_p}")


METHODS = ("vanilla", "kangaroo", "kangaroo_tree", "early_exit", "early_exit_tree",
           "hf_generate", "prompt_lookup")


@dataclass
class EvalSection:
    adapter: str = ""  # adapter folder (kangaroo-train's out_dir/adapter)
    benchmarks: dict[str, str] = field(default_factory=dict)
    num_questions: int = 2
    max_turns: int = 2
    methods: list[str] = field(default_factory=lambda: ["vanilla", "kangaroo", "early_exit"])
    temperatures: list[float] = field(default_factory=lambda: [0.0])
    seed: int = 0
    out: str = "results/eval.json"
    command: str = ""
    under_contention: bool = True  # labels the speed numbers; false only on an idle machine

    def __post_init__(self) -> None:
        positive("eval.num_questions", self.num_questions)
        positive("eval.max_turns", self.max_turns)
        _check(bool(self.methods), "eval.methods", "must not be empty")
        for m in self.methods:
            _check(m in METHODS, "eval.methods", f"unknown method {m!r} (known: {METHODS})")
        _check("vanilla" in self.methods, "eval.methods",
               "must include vanilla (the same-run baseline)")
        for t in self.temperatures:
            _check(t >= 0, "eval.temperatures", f"must be >= 0, got {t}")


@dataclass
class Root:
    """The whole config of both entry points (train.yaml and eval.yaml compose the same
    sections, so one experiment file sets both); a training run folder records TRAIN_KEYS."""

    name: str
    out_dir: str
    model: ModelConfig
    data: DataConfig
    adapter: AdapterConfig
    train: TrainConfig
    decode: DecodeConfig
    eval: EvalSection
    overwrite: bool = False
    threads: int = 1

    def __post_init__(self) -> None:
        _check(bool(self.out_dir), "out_dir", "must not be empty")
        positive("threads", self.threads)


TRAIN_KEYS = ("name", "out_dir", "overwrite", "threads", "model", "data", "adapter", "train")
