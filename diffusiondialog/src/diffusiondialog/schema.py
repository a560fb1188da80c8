"""Typed schema of every config section (issue 15): unknown keys, wrong types and out-of-range
values are rejected before any work, with one error naming the dotted key.

`validated(cfg)` merges the Hydra-composed config onto these dataclasses (OmegaConf struct mode
rejects keys the schema does not declare, `+section.typo=value` included, and converts or
rejects types), then builds the dataclasses once so every `__post_init__` range check runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

MODEL_KINDS = ("diffusiondialog", "bart", "cvae")
DATA_FORMATS = ("chitchat", "plato", "hf")
SPLITS = ("train", "dev", "test")
DECODERS = ("greedy", "beam", "nucleus")
SPACINGS = ("stride", "trailing")
SCHEDULES = ("sqrt", "cosine", "linear")
PRIORS = ("learned", "standard")
PRECISIONS = ("no", "bf16", "fp16")
MIN_VOCAB = 5  # the 4 BART special tokens plus at least one real token


class ConfigError(ValueError):
    """A config value (or a run folder's recorded config) that cannot be used; names the key."""


def _at_least(key: str, value: float | None, low: float, optional: bool = False) -> None:
    if value is None and optional:
        return
    if value is None or value < low:
        raise ConfigError(f"{key} must be >= {low}, got {value}")


def _one_of(key: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {allowed}, got {value!r}")


def _fraction(key: str, value: float, low_open: bool = False) -> None:
    if not (0 < value <= 1 if low_open else 0 <= value < 1):
        raise ConfigError(f"{key} must be in {'(0, 1]' if low_open else '[0, 1)'}, got {value}")


@dataclass
class BartSchema:
    d_model: int = 768
    encoder_layers: int = 6
    decoder_layers: int = 6
    encoder_attention_heads: int = 12
    decoder_attention_heads: int = 12
    encoder_ffn_dim: int = 3072
    decoder_ffn_dim: int = 3072
    max_position_embeddings: int = 1024
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    scale_embedding: bool = False
    init_std: float = 0.02

    def __post_init__(self) -> None:
        for name in ("d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads",
                     "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim",
                     "max_position_embeddings"):
            _at_least(f"model.bart.{name}", getattr(self, name), 1)
        for name in ("encoder_attention_heads", "decoder_attention_heads"):
            if self.d_model % getattr(self, name):
                raise ConfigError(f"model.bart.{name}={getattr(self, name)} must divide "
                                  f"model.bart.d_model={self.d_model}")
        for name in ("dropout", "attention_dropout", "activation_dropout"):
            _fraction(f"model.bart.{name}", getattr(self, name))
        if self.init_std <= 0:
            raise ConfigError(f"model.bart.init_std must be > 0, got {self.init_std}")


@dataclass
class CvaeSchema:
    latent_dim: int = 64
    prior: str = "learned"
    kl_anneal_steps: int = 500
    free_bits: float = 0.05

    def __post_init__(self) -> None:
        _at_least("model.cvae.latent_dim", self.latent_dim, 1)
        _one_of("model.cvae.prior", self.prior, PRIORS)
        _at_least("model.cvae.kl_anneal_steps", self.kl_anneal_steps, 0)
        _at_least("model.cvae.free_bits", self.free_bits, 0)


@dataclass
class ModelSchema:
    kind: str = "diffusiondialog"
    init: str | None = None
    bart: BartSchema = field(default_factory=BartSchema)
    latent_slots: int = 1
    denoiser_layers: int = 6
    diffusion_steps: int = 2000
    schedule: str = "sqrt"
    max_role: int = 5
    max_turn: int = 15
    loss_weights: dict[str, float] = field(default_factory=dict)
    cvae: CvaeSchema | None = None

    def __post_init__(self) -> None:
        _one_of("model.kind", self.kind, MODEL_KINDS)
        _one_of("model.schedule", self.schedule, SCHEDULES)
        for name in ("latent_slots", "diffusion_steps", "max_role", "max_turn"):
            _at_least(f"model.{name}", getattr(self, name), 1)
        _at_least("model.denoiser_layers", self.denoiser_layers,
                  1 if self.kind == "diffusiondialog" else 0)
        for name, weight in self.loss_weights.items():
            _at_least(f"model.loss_weights.{name}", weight, 0)
        if self.kind == "cvae" and self.cvae is None:
            raise ConfigError("model.cvae: required for model.kind=cvae (use model=cvae)")


@dataclass
class DataSchema:
    path: str = MISSING
    format: str = "chitchat"
    max_context_turns: int = 5
    max_source: int = 64
    max_target: int = 32
    seed: int = 0
    max_conversations: int | None = None
    max_train_pairs: int | None = None
    vocab_size: int = 2000
    tokenizer: str | None = None

    def __post_init__(self) -> None:
        _one_of("data.format", self.format, DATA_FORMATS)
        for name in ("max_context_turns", "max_source", "max_target"):
            _at_least(f"data.{name}", getattr(self, name), 1)
        _at_least("data.max_conversations", self.max_conversations, 1, optional=True)
        _at_least("data.max_train_pairs", self.max_train_pairs, 1, optional=True)
        if self.tokenizer is None and self.vocab_size < MIN_VOCAB:
            raise ConfigError(f"data.vocab_size must be >= {MIN_VOCAB} when data.tokenizer is "
                              f"null (a BPE is trained), got {self.vocab_size}")


@dataclass
class TrainerSchema:
    steps: int = 300
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 1e-4
    warmup: int = 500
    weight_decay: float = 1e-8
    clip_value: float = 1.0
    log_every: int = 10
    save_every: int = 500
    mixed_precision: str = "no"
    cpu: bool = False
    threads: int = 1
    seed: int = 2022
    resume: bool = True
    stop_after: int | None = None
    output_dir: str = MISSING

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "grad_accum", "log_every", "save_every", "threads"):
            _at_least(f"trainer.{name}", getattr(self, name), 1)
        _at_least("trainer.stop_after", self.stop_after, 1, optional=True)
        _at_least("trainer.warmup", self.warmup, 0)
        _at_least("trainer.weight_decay", self.weight_decay, 0)
        if self.lr < 0 or self.clip_value <= 0:
            raise ConfigError(f"trainer.lr must be >= 0 and trainer.clip_value > 0, got "
                              f"{self.lr} and {self.clip_value}")
        _one_of("trainer.mixed_precision", self.mixed_precision, PRECISIONS)
        if not self.output_dir.strip():
            raise ConfigError("trainer.output_dir must not be empty")


@dataclass
class DecodeSchema:
    method: str = "beam"
    beams: int = 5
    top_p: float = 0.9
    max_len: int = 32
    min_len: int = 1
    ddim_steps: int = 50
    spacing: str = "stride"
    clamp: float | None = 1.0

    def __post_init__(self) -> None:
        _one_of("eval.decode.method", self.method, DECODERS)
        _one_of("eval.decode.spacing", self.spacing, SPACINGS)
        for name in ("beams", "max_len", "ddim_steps"):
            _at_least(f"eval.decode.{name}", getattr(self, name), 1)
        _at_least("eval.decode.min_len", self.min_len, 0)
        _fraction("eval.decode.top_p", self.top_p, low_open=True)
        if self.clamp is not None and self.clamp <= 0:
            raise ConfigError(f"eval.decode.clamp must be > 0 or null, got {self.clamp}")


@dataclass
class EvalSchema:
    checkpoints: dict[str, str | None] = field(default_factory=dict)
    tokenizer: str | None = None
    split: str = "test"
    num_contexts: int = 200
    k: int = 5
    seed: int = 0
    threads: int = 1
    batch_size: int = 32
    decode: DecodeSchema = field(default_factory=DecodeSchema)
    baseline_decodes: list[str] = field(default_factory=lambda: ["beam", "nucleus"])
    ddim_study: list[int] = field(default_factory=list)
    study_method: str = "greedy"
    output: str = "results/eval.json"
    plot: str | None = None
    command: str = "make eval"

    def __post_init__(self) -> None:
        _one_of("eval.split", self.split, SPLITS)
        for name in ("num_contexts", "k", "threads", "batch_size"):
            _at_least(f"eval.{name}", getattr(self, name), 1)
        for i, method in enumerate(self.baseline_decodes):
            _one_of(f"eval.baseline_decodes[{i}]", method, DECODERS)
        for i, steps in enumerate(self.ddim_study):
            _at_least(f"eval.ddim_study[{i}]", steps, 1)
        _one_of("eval.study_method", self.study_method, DECODERS)


@dataclass
class Config:
    """Top level of both train.yaml and eval.yaml (each fills the other's section with
    defaults). `overwrite` wipes an existing run folder instead of refusing a changed config."""

    model: ModelSchema = field(default_factory=ModelSchema)
    data: DataSchema = field(default_factory=DataSchema)
    trainer: TrainerSchema = field(default_factory=lambda: TrainerSchema(output_dir="runs"))
    eval: EvalSchema = field(default_factory=EvalSchema)
    experiment_name: str = "tiny"
    overwrite: bool = False


def validated(cfg: DictConfig) -> DictConfig:
    """`cfg` merged onto the schema (typed, struct mode), with every range check run.

    Raises ConfigError naming the offending dotted key; nothing else has happened yet.
    """
    try:
        merged = OmegaConf.merge(OmegaConf.structured(Config), cfg)
        OmegaConf.to_object(merged)  # instantiates the dataclasses: runs __post_init__
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        detail = str(err).splitlines()[0]
        raise ConfigError(f"config key {key!r}: {detail}") from None
    OmegaConf.set_struct(merged, True)
    return merged
