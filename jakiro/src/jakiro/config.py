"""Typed config schemas: every section of ``train.yaml`` / ``eval.yaml`` is a dataclass.

``parse(Schema, dict)`` builds the dataclass tree from a resolved Hydra config and rejects, before
any work and naming the dotted key: unknown keys (``+section.typo=value`` included), missing
required keys, wrong types. Range checks live in each dataclass's ``__post_init__`` and name
their key too (a ``ConfigError`` raised there is re-prefixed with the section path).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from jakiro.checks import ConfigError, non_negative, positive
from jakiro.draft_head import HeadConfig
from jakiro.drafters import TreeConfig
from jakiro.training import TrainConfig


def _type_name(tp: Any) -> str:  # noqa: ANN401 - a typing annotation
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:  # noqa: ANN401, C901 - one type switch
    """``value`` checked against annotation ``tp`` (ints are accepted for floats)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a section (mapping), got {value!r}")
        return parse(tp, value, key)
    if origin in (typing.Union, types.UnionType):
        alts = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(alts) < len(typing.get_args(tp)):
            return None
        if len(alts) == 1:  # Optional[X]: X's own error is the informative one
            return _coerce(value, alts[0], key)
        for alt in alts:
            try:
                return _coerce(value, alt, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected {len(args)} values, got {list(value)!r}")
            return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args,
                                                                                       strict=True)))
        item = args[0] if args else Any
        out = [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        kt, vt = typing.get_args(tp) or (Any, Any)
        return {_coerce(k, kt, key): _coerce(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"config schema: unsupported annotation {tp!r} for {key}")


def parse(schema: type, values: dict, prefix: str = "") -> Any:  # noqa: ANN401 - a dataclass
    """Build ``schema`` from ``values``; unknown, missing or mistyped keys raise ``ConfigError``."""
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema) if f.init}
    where = f"{prefix}." if prefix else ""
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(where + k for k in unknown)}; "
                          f"{prefix or 'the top level'} accepts: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, f in fields.items():
        if name not in values:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"missing config key {where}{name}")
            continue
        kwargs[name] = _coerce(values[name], hints[name], where + name)
    try:
        return schema(**kwargs)
    except (ConfigError, ValueError) as e:
        raise ConfigError(_qualify(str(e), prefix)) from None


def _qualify(msg: str, prefix: str) -> str:
    """Range checks name their key relative to their own section ("tree.top_k ..."); give the
    full dotted path ("eval.tree.top_k ...")."""
    if not prefix or msg.startswith(prefix):
        return msg
    last = prefix.rsplit(".", 1)[-1]
    if msg.startswith(last + "."):
        return prefix + msg[len(last):]
    return f"{prefix}: {msg}"


# -- train.yaml ------------------------------------------------------------------------------------
@dataclass
class ModelSection:
    spec: str


@dataclass
class DataSection:
    conversations: str = "chitchat"  # or a ShareGPT .json / .jsonl file, optionally .gz
    num_conversations: int = 400
    max_len: int = 256
    seed: int = 42

    def __post_init__(self) -> None:
        positive("data", num_conversations=self.num_conversations)
        if self.max_len < 8:
            raise ConfigError(f"data.max_len must be >= 8, got {self.max_len}")
        if not self.conversations:
            raise ConfigError("data.conversations must be 'chitchat' or a file path, got ''")


@dataclass
class TrainRun:
    """The whole ``train.yaml``; ``name`` is the experiment name (default folders use it)."""

    model: ModelSection
    data: DataSection
    head: HeadConfig
    train: TrainConfig
    name: str
    out_dir: str
    threads: int = 1
    draft_vocab_size: int = 8192  # 0 = full vocabulary at draft time
    overwrite: bool = False  # wipe out_dir and start fresh (instead of refusing a changed config)

    def __post_init__(self) -> None:
        non_negative("", threads=self.threads, draft_vocab_size=self.draft_vocab_size)
        if not self.out_dir:
            raise ConfigError("out_dir must be a folder path, got ''")


# -- eval.yaml -------------------------------------------------------------------------------------
@dataclass
class EvalSection:
    benchmarks: dict[str, str]
    heads: dict[str, str]
    tree: TreeConfig
    methods: list[str]
    num_questions: int = 3
    max_new_tokens: int = 64
    max_length: int = 1536
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    auto_slack: float = 0.6
    headline: str = "jakiro"
    baseline: str = "eagle2"
    hf_peers: bool = True
    int8_reference: bool = False  # int8 dynamic-quantized vanilla as a (lossy) reference row
    prompt_lookup_tokens: int = 10
    latency_ns: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 24, 32, 48, 64])
    latency_reps: int = 3
    out: str = "results/eval.json"
    config_name: str = "experiment=tiny"
    command: str = "jakiro-eval"

    def __post_init__(self) -> None:
        if not self.benchmarks:
            raise ConfigError("eval.benchmarks must name at least one question file")
        if not self.methods or self.methods[0] != "vanilla":
            raise ConfigError(f"eval.methods must start with 'vanilla' (the reference), got "
                              f"{self.methods}")
        positive("eval", num_questions=self.num_questions, max_new_tokens=self.max_new_tokens,
                 max_length=self.max_length, latency_reps=self.latency_reps,
                 prompt_lookup_tokens=self.prompt_lookup_tokens)
        non_negative("eval", auto_slack=self.auto_slack)
        if not self.latency_ns or min(self.latency_ns) < 1:
            raise ConfigError(f"eval.latency_ns must be a non-empty list of n >= 1, got "
                              f"{self.latency_ns}")


@dataclass
class EvalRun:
    """The whole ``eval.yaml``. ``experiment=<name>`` is shared with ``train.yaml``, so its
    ``data`` / ``train`` / ``draft_vocab_size`` keys arrive here too: typed (typos rejected),
    unused by evaluation."""

    model: ModelSection
    eval: EvalSection
    name: str
    data_root: str
    threads: int = 1
    seed: int = 0
    precision: str = "fp32"  # fp32 | bf16: target, heads and verification
    data: DataSection | None = None
    train: TrainConfig | None = None
    draft_vocab_size: int = 0

    def __post_init__(self) -> None:
        non_negative("", threads=self.threads)
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision must be fp32 or bf16, got {self.precision!r}")
