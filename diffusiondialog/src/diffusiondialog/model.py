"""DiffusionDialog: BART with role/turn embeddings, a response latent and a diffusion prior.

With `use_latent=False` the same class is the BART baseline (no latent, NLL only), so both
models share one code path and differ only in the latent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BartConfig

from diffusiondialog.bart_layers import (
    DecoderLayer,
    EncoderLayer,
    Stack,
    causal_allowed,
    from_hf_name,
    padding_allowed,
)
from diffusiondialog.diffusion import GaussianDiffusion
from diffusiondialog.latent import (
    GaussianLatent,
    LatentDenoiser,
    ResidualProjection,
    gaussian_kl,
    reparameterise,
)

ROLE_RESPONSE, TURN_RESPONSE = 2, 1


@dataclass
class ModelSpec:
    """Everything needed to rebuild the model; saved next to every checkpoint."""

    bart: dict = field(default_factory=dict)
    use_latent: bool = True
    latent_slots: int = 1
    denoiser_layers: int = 6
    diffusion_steps: int = 2000
    schedule: str = "sqrt"
    max_role: int = 5
    max_turn: int = 15
    loss_weights: dict = field(
        default_factory=lambda: {"diffusion": 1.0, "reconstruction": 1.0, "bow": 1.0}
    )
    # "diffusion": DiffusionDialog. "gaussian": the CVAE baseline (DialogVED-style Gaussian
    # latent with a prior network p(z|c), posterior q(z|c,r), KL + BOW), same K/V injection.
    latent_type: str = "diffusion"
    latent_dim: int = 64            # gaussian only: size of z before the projection to d
    prior: str = "learned"          # gaussian only: "learned" p(z|c) or "standard" N(0, I)
    kl_anneal_steps: int = 0        # gaussian only: KL weight ramps 0 -> 1 over these steps
    free_bits: float = 0.0          # gaussian only: per-dimension KL floor (batch mean), nats

    def to_dict(self) -> dict:
        return asdict(self)

    def bart_config(self) -> BartConfig:
        return BartConfig(**self.bart)


# gold_reconstruction (decoder NLL given the true z0) exists but has weight 0 in the official
# code; it is available here as an ablation for small budgets.
LOSS_NAMES = ("diffusion", "reconstruction", "bow", "gold_reconstruction")
CVAE_LOSS_NAMES = ("reconstruction", "kl", "bow")
LATENT_TYPES = ("diffusion", "gaussian")


def check_loss_weights(keys: Iterable[str], latent_type: str,
                       field: str = "model.loss_weights") -> None:
    names = CVAE_LOSS_NAMES if latent_type == "gaussian" else LOSS_NAMES
    unknown = set(keys) - set(names)
    if unknown:
        raise ValueError(f"{field} has unknown keys {sorted(unknown)}; "
                         f"expected a subset of {names}")


class DialogModel(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        if spec.latent_type not in LATENT_TYPES:
            raise ValueError(f"latent_type must be one of {LATENT_TYPES}, got "
                             f"{spec.latent_type!r}")
        check_loss_weights(spec.loss_weights, spec.latent_type)
        self.spec = spec
        cfg = spec.bart_config()
        self.cfg = cfg
        d = cfg.d_model
        self.shared = nn.Embedding(cfg.vocab_size, d, padding_idx=cfg.pad_token_id)
        self.role_embed = nn.Embedding(spec.max_role, d)
        self.turn_embed = nn.Embedding(spec.max_turn, d)
        self.encoder = Stack(cfg, [EncoderLayer(cfg) for _ in range(cfg.encoder_layers)])
        self.decoder = Stack(
            cfg, [DecoderLayer(cfg, spec.use_latent) for _ in range(cfg.decoder_layers)]
        )
        self.register_buffer("final_logits_bias", torch.zeros(1, cfg.vocab_size))
        if spec.use_latent:
            self.latent_slot = nn.Parameter(torch.randn(spec.latent_slots, d) * cfg.init_std)
            self.latent_proj = ResidualProjection(d, cfg.dropout)
            self.bow_head = nn.Linear(d, d)
            if spec.latent_type == "gaussian":
                self.gaussian = GaussianLatent(d, spec.latent_slots, spec.latent_dim,
                                               spec.prior)
            else:
                self.denoiser = LatentDenoiser(cfg, spec.latent_slots, spec.denoiser_layers)
                self.diffusion = GaussianDiffusion(spec.diffusion_steps, spec.schedule)
        # Set by the trainer before each optimizer step (KL annealing); None means weight 1.
        self.train_step: int | None = None
        self.apply(self._init)

    def _init(self, module: nn.Module) -> None:
        std = self.cfg.init_std
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=std)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=std)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()

    # ---- encoders -------------------------------------------------------------------------
    def encode_context(self, ids: torch.Tensor, mask: torch.Tensor, roles: torch.Tensor,
                       turns: torch.Tensor) -> torch.Tensor:
        emb = self.shared(ids) * self.encoder.embed_scale
        emb = emb + self.role_embed(roles) + self.turn_embed(turns)
        x = self.encoder.embed(emb)
        allowed = padding_allowed(mask)
        for layer in self.encoder.layers:
            x = layer(x, allowed)
        return x

    def encode_latent(self, dec_in: torch.Tensor, dec_mask: torch.Tensor) -> torch.Tensor:
        """z0 (B, slots, d) from the shifted response read by the shared encoder."""
        states = self.response_states(dec_in, dec_mask)
        return self.latent_proj(states[:, : self.spec.latent_slots])

    def response_states(self, dec_in: torch.Tensor, dec_mask: torch.Tensor) -> torch.Tensor:
        """Encoder states of [slots; response] (B, slots + L, d).

        The slots see every real response token, but response tokens cannot see the slots, so
        the slots act as a pooled summary that does not alter the token states.
        """
        b, n = dec_in.shape
        s = self.spec.latent_slots
        emb = self.shared(dec_in) * self.encoder.embed_scale
        emb = emb + self.role_embed.weight[ROLE_RESPONSE] + self.turn_embed.weight[TURN_RESPONSE]
        x = self.encoder.embed(torch.cat([self.latent_slot.expand(b, -1, -1), emb], dim=1))
        keys = torch.cat([torch.ones(b, s, dtype=torch.bool, device=dec_in.device),
                          dec_mask.bool()], dim=1)
        allowed = keys[:, None, None, :].expand(b, 1, s + n, s + n).clone()
        allowed[:, :, s:, :s] = False
        for layer in self.encoder.layers:
            x = layer(x, allowed)
        return x

    # ---- decoder --------------------------------------------------------------------------
    def decode_logits(self, dec_in: torch.Tensor, enc: torch.Tensor, enc_mask: torch.Tensor,
                      latent: torch.Tensor | None = None) -> torch.Tensor:
        """Logits for every decoder position; `latent` (B, slots, d) becomes a K/V prefix."""
        x = self.decoder.embed(self.shared(dec_in) * self.decoder.embed_scale)
        prefix = 0 if latent is None else latent.shape[1]
        self_allowed = causal_allowed(dec_in.shape[1], prefix, dec_in.device)
        enc_allowed = padding_allowed(enc_mask)
        for layer in self.decoder.layers:
            x = layer(x, self_allowed, enc, enc_allowed, latent)
        return F.linear(x, self.shared.weight) + self.final_logits_bias

    # ---- latent prior ---------------------------------------------------------------------
    def denoise(self, xt: torch.Tensor, t: torch.Tensor, enc: torch.Tensor,
                enc_mask: torch.Tensor) -> torch.Tensor:
        return self.denoiser(xt, t, enc, enc_mask)

    @torch.no_grad()
    def sample_latent(self, enc: torch.Tensor, enc_mask: torch.Tensor, x_T: torch.Tensor,
                      steps: int = 50, spacing: str = "stride", clamp: float | None = 1.0):
        """Decoder latent (B, slots, d) from noise x_T of shape `latent_shape`.

        Diffusion: DDIM from x_T. Gaussian (CVAE): z = mu_p + sigma_p * x_T from the prior
        p(z|c), projected to the decoder (steps/spacing/clamp do not apply).
        """
        if self.spec.latent_type == "gaussian":
            mu, logvar = self.gaussian.prior(enc, enc_mask)
            return self.gaussian.to_decoder(reparameterise(mu, logvar, x_T))
        return self.diffusion.ddim_sample(
            lambda x, t: self.denoise(x, t, enc, enc_mask), x_T, steps, spacing, clamp
        )

    def latent_shape(self, batch: int) -> tuple[int, ...]:
        if self.spec.latent_type == "gaussian":
            return batch, self.spec.latent_dim
        return batch, self.spec.latent_slots, self.cfg.d_model

    def posterior(self, enc: torch.Tensor, enc_mask: torch.Tensor, dec_in: torch.Tensor,
                  dec_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CVAE q(z|c,r): (mu, logvar), each (B, latent_dim). The response is read by the shared
        encoder behind the latent slot exactly as DiffusionDialog reads it for z0."""
        return self.gaussian.posterior(enc, enc_mask, self.encode_latent(dec_in, dec_mask))

    def kl_weight(self) -> float:
        n = self.spec.kl_anneal_steps
        if self.train_step is None or n <= 0:
            return 1.0
        return min(1.0, self.train_step / n)

    # ---- losses ---------------------------------------------------------------------------
    def forward(self, batch: dict[str, torch.Tensor],
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Training losses; 'loss' is the weighted sum the optimiser sees."""
        enc = self.encode_context(batch["context_ids"], batch["context_mask"],
                                  batch["roles"], batch["turns"])
        labels = batch["labels"]
        if not self.spec.use_latent:
            nll = token_nll(self.decode_logits(batch["decoder_input_ids"], enc,
                                               batch["context_mask"]), labels)
            return {"loss": nll.mean(), "nll": nll.mean()}
        if self.spec.latent_type == "gaussian":
            return self.cvae_forward(batch, enc, generator)
        z0 = self.encode_latent(batch["decoder_input_ids"], batch["decoder_mask"])
        t = self.diffusion.sample_t(z0.shape[0], generator, z0.device)
        noise = torch.randn(z0.shape, generator=generator, device=z0.device, dtype=z0.dtype)
        # z0 is deliberately not detached: the MSE also shapes the response encoder (official).
        pred = self.denoise(self.diffusion.q_sample(z0, t, noise), t, enc, batch["context_mask"])
        diff = self.diffusion.x0_loss(pred, z0)
        # The decoder only ever sees the denoiser's estimate, with a stop-gradient into the prior.
        rec = token_nll(self.decode_logits(batch["decoder_input_ids"], enc,
                                           batch["context_mask"], pred.detach()), labels)
        bow = self.bow_loss(z0, labels)
        w = self.spec.loss_weights
        loss = (w.get("diffusion", 0.0) * diff + w.get("reconstruction", 0.0) * rec
                + w.get("bow", 0.0) * bow)
        out = {"diffusion": diff.mean(), "reconstruction": rec.mean(), "bow": bow.mean(),
               "nll": rec.mean(), "latent_var": z0.var(dim=0).mean()}
        if w.get("gold_reconstruction", 0.0):
            gold = token_nll(self.decode_logits(batch["decoder_input_ids"], enc,
                                                batch["context_mask"], z0), labels)
            loss = loss + w["gold_reconstruction"] * gold
            out["gold_reconstruction"] = gold.mean()
        return {"loss": loss.mean(), **out}

    def cvae_forward(self, batch: dict[str, torch.Tensor], enc: torch.Tensor,
                     generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """NLL given a reparameterised posterior sample + beta * KL(q || p) + BOW(z)."""
        mask, labels = batch["context_mask"], batch["labels"]
        mu_q, logvar_q = self.posterior(enc, mask, batch["decoder_input_ids"],
                                        batch["decoder_mask"])
        mu_p, logvar_p = self.gaussian.prior(enc, mask)
        eps = torch.randn(mu_q.shape, generator=generator, device=mu_q.device,
                          dtype=mu_q.dtype)
        latent = self.gaussian.to_decoder(reparameterise(mu_q, logvar_q, eps))
        rec = token_nll(self.decode_logits(batch["decoder_input_ids"], enc, mask, latent),
                        labels)
        kl_dims = gaussian_kl(mu_q, logvar_q, mu_p, logvar_p)  # (B, latent_dim)
        kl = kl_dims.sum(-1)
        # Free bits (Kingma et al. 2016): each dimension's batch-mean KL is floored, so the
        # optimiser gains nothing from pushing it below `free_bits` nats (anti-collapse).
        kl_term = kl_dims.mean(0).clamp(min=self.spec.free_bits).sum()
        bow = self.bow_loss(latent, labels)
        w = self.spec.loss_weights
        beta = self.kl_weight()
        loss = (w.get("reconstruction", 0.0) * rec.mean()
                + w.get("kl", 0.0) * beta * kl_term + w.get("bow", 0.0) * bow.mean())
        return {"loss": loss, "reconstruction": rec.mean(), "kl": kl.mean(),
                "kl_term": kl_term, "kl_weight": torch.tensor(beta), "bow": bow.mean(),
                "nll": rec.mean(), "latent_var": mu_q.var(dim=0).mean()}

    def bow_loss(self, z0: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Bag-of-words NLL of the response tokens from the true latent (tied, detached vocab)."""
        logits = F.linear(self.bow_head(z0.mean(dim=1)), self.shared.weight.detach())
        logp = F.log_softmax(logits.float(), dim=-1)
        target, weight = bow_targets(labels)
        return -(logp.gather(1, target) * weight).sum(1) / weight.sum(1).clamp(min=1)


def bow_targets(labels: torch.Tensor, ignore: int = -100) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids the BOW head scores (every label position, repeats counted) and 0/1 weights.

    Padding (label `ignore`) gets weight 0 and a dummy id 0 so `gather` stays in range.
    """
    weight = (labels != ignore).float()
    return labels.clamp(min=0) * (labels != ignore), weight


def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample token NLL summed over the response and divided by its length."""
    nll = F.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=-100,
                          reduction="none")
    return nll.sum(1) / (labels != -100).sum(1).clamp(min=1)


def load_bart_weights(model: DialogModel, state: dict[str, torch.Tensor]) -> list[str]:
    """Copy a transformers BART state dict by name; returns the model keys left at init."""
    own = model.state_dict()
    loaded = set()
    for name, value in state.items():
        key = from_hf_name(name.removeprefix("model."))
        if key in own and own[key].shape == value.shape:
            own[key].copy_(value)
            loaded.add(key)
    return sorted(set(own) - loaded)
