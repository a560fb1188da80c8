"""Config validation (before any expensive work) and config -> ModelSpec."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from diffusiondialog.data import FORMATS
from diffusiondialog.latent import check_prior
from diffusiondialog.model import ModelSpec, check_loss_weights

MODEL_KINDS = ("diffusiondialog", "bart", "cvae")
DATA_FORMATS = ("chitchat", *FORMATS)


def _require(cfg: DictConfig, keys: list[str]) -> None:
    for key in keys:
        if OmegaConf.select(cfg, key) is None:
            raise ValueError(f"config: missing required field {key!r}")


def validate_train_config(cfg: DictConfig) -> None:
    _require(cfg, ["model.kind", "model.bart.d_model", "data.path", "data.format",
                   "trainer.steps", "trainer.batch_size", "trainer.output_dir"])
    if cfg.model.kind not in MODEL_KINDS:
        raise ValueError(f"model.kind must be one of {MODEL_KINDS}, got {cfg.model.kind!r}")
    if cfg.data.format not in DATA_FORMATS:
        raise ValueError(f"data.format must be one of {DATA_FORMATS}, got {cfg.data.format!r}")
    latent_type = "gaussian" if cfg.model.kind == "cvae" else "diffusion"
    check_loss_weights(cfg.model.loss_weights, latent_type)
    if cfg.model.kind == "cvae":
        _require(cfg, ["model.cvae.latent_dim", "model.cvae.prior"])
        if int(cfg.model.cvae.latent_dim) < 1:
            raise ValueError(f"model.cvae.latent_dim must be >= 1, got {cfg.model.cvae.latent_dim}")
        check_prior(cfg.model.cvae.prior)
        if float(cfg.model.cvae.free_bits) < 0 or int(cfg.model.cvae.kl_anneal_steps) < 0:
            raise ValueError("model.cvae.free_bits and kl_anneal_steps must be >= 0")
    for key in ("trainer.steps", "trainer.batch_size", "trainer.grad_accum", "data.max_source",
                "data.max_target", "trainer.threads"):
        if int(OmegaConf.select(cfg, key)) < 1:
            raise ValueError(f"{key} must be >= 1, got {OmegaConf.select(cfg, key)}")
    if cfg.trainer.mixed_precision not in ("no", "bf16", "fp16"):
        raise ValueError(f"trainer.mixed_precision must be no, bf16 or fp16, got "
                         f"{cfg.trainer.mixed_precision!r}")
    longest = max(int(cfg.data.max_source), int(cfg.data.max_target))
    if longest > cfg.model.bart.max_position_embeddings:
        raise ValueError("data.max_source/max_target exceed model.bart.max_position_embeddings")


def build_spec(cfg: DictConfig, vocab_size: int) -> ModelSpec:
    bart = OmegaConf.to_container(cfg.model.bart, resolve=True)
    cvae = {}
    if cfg.model.kind == "cvae":
        c = cfg.model.cvae
        cvae = dict(latent_type="gaussian", latent_dim=int(c.latent_dim), prior=str(c.prior),
                    kl_anneal_steps=int(c.kl_anneal_steps), free_bits=float(c.free_bits))
    bart.update(vocab_size=vocab_size, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                decoder_start_token_id=2)
    return ModelSpec(
        bart=bart,
        use_latent=cfg.model.kind in ("diffusiondialog", "cvae"),
        latent_slots=int(cfg.model.latent_slots),
        denoiser_layers=int(cfg.model.denoiser_layers),
        diffusion_steps=int(cfg.model.diffusion_steps),
        schedule=str(cfg.model.schedule),
        max_role=int(cfg.model.max_role),
        max_turn=int(cfg.model.max_turn),
        loss_weights={k: float(v) for k, v in cfg.model.loss_weights.items()},
        **cvae,
    )
