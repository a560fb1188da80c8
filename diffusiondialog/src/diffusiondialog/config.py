"""Config validation (before any expensive work) and config -> ModelSpec."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from diffusiondialog.model import ModelSpec, check_loss_weights
from diffusiondialog.schema import ConfigError, validated


def validate_train_config(cfg: DictConfig) -> DictConfig:
    """The typed, range-checked config (schema.py) plus the checks that span sections."""
    cfg = validated(cfg)
    latent_type = "gaussian" if cfg.model.kind == "cvae" else "diffusion"
    try:
        check_loss_weights(cfg.model.loss_weights, latent_type)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    longest = max(int(cfg.data.max_source), int(cfg.data.max_target))
    if longest > cfg.model.bart.max_position_embeddings:
        raise ConfigError("data.max_source/max_target exceed "
                          "model.bart.max_position_embeddings")
    return cfg


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
