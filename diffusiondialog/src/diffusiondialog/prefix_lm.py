"""DiffusionDialog on a pretrained decoder-only LM (issue 21): the SmolLM2 construction.

- The dialogue context is the prompt (chat format); the response follows it.
- Posterior encoder over context + response: the same (LoRA-adapted) LM reads prompt + response
  without a prefix; the final hidden state at the response's last token, through the residual
  FFN + LayerNorm, is z0 (one vector of the LM's width per response).
- Because the LM is causal, that same pass gives the context encoding (hidden states at the
  prompt positions do not see the response); the denoiser cross-attends to it, so the diffusion
  prior over z0 is conditioned on the context exactly as in the BART model.
- The latent enters every layer as one extra key/value pair per KV head, prepended through the
  KV cache (a data-dependent prefix, as in the BART model's per-layer latent K/V).
- Losses as in the official code: diffusion MSE on z0 (not detached), decoder NLL given the
  detached x0 estimate at a random t, bag-of-words on z0 through the detached tied embeddings;
  plus the remedies measured in the study: gold-latent reconstruction and context dropout
  (the decoder sometimes sees only the latent, never the context: Dior-CVAE's memory dropout).
- `use_latent=False` is the baseline: the same LM and LoRA, NLL only, no prefix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BartConfig, DynamicCache

from diffusiondialog.diffusion import GaussianDiffusion
from diffusiondialog.latent import LatentDenoiser, ResidualProjection
from diffusiondialog.model import token_nll


@dataclass
class PrefixLMSpec:
    backbone: str = "smollm2-135m-instruct"
    use_latent: bool = True
    lora_r: int = 16                # 0: full fine-tuning
    lora_alpha: int = 32
    denoiser_layers: int = 2
    diffusion_steps: int = 2000
    schedule: str = "sqrt"
    context_dropout: float = 0.0    # P(decoder sees only the latent prefix, no context)
    loss_weights: dict = field(default_factory=lambda: {
        "diffusion": 1.0, "reconstruction": 1.0, "bow": 1.0, "gold_reconstruction": 0.0})

    def to_dict(self) -> dict:
        return asdict(self)


def prefix_cache(kv: torch.Tensor, layers: int, kv_heads: int, head_dim: int) -> DynamicCache:
    """(B, slots, layers*2*kv_heads*head_dim) -> a cache holding one prefix K/V per layer."""
    b, slots, _ = kv.shape
    kv = kv.view(b, slots, layers, 2, kv_heads, head_dim).permute(2, 3, 0, 4, 1, 5)
    cache = DynamicCache()
    for i in range(layers):
        cache.update(kv[i, 0], kv[i, 1], i)
    return cache


class PrefixLM(nn.Module):
    def __init__(self, spec: PrefixLMSpec, lm: nn.Module) -> None:
        super().__init__()
        self.spec = spec
        c = lm.config
        self.layers, self.kv_heads = c.num_hidden_layers, c.num_key_value_heads
        self.head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        d = self.d = c.hidden_size
        if spec.lora_r > 0:
            from peft import LoraConfig, get_peft_model
            lm = get_peft_model(lm, LoraConfig(
                r=spec.lora_r, lora_alpha=spec.lora_alpha, lora_dropout=0.05,
                target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                "up_proj", "down_proj"]))
        self.lm = lm
        if not spec.use_latent:
            return
        heads = max(1, d // 64)
        den = BartConfig(d_model=d, decoder_attention_heads=heads, decoder_ffn_dim=2 * d,
                         dropout=0.1, attention_dropout=0.0, activation_dropout=0.0,
                         init_std=0.02, vocab_size=8)
        self.latent_proj = ResidualProjection(d, 0.1)
        self.latent_kv = nn.Linear(d, self.layers * 2 * self.kv_heads * self.head_dim)
        nn.init.normal_(self.latent_kv.weight, std=0.02)
        nn.init.zeros_(self.latent_kv.bias)
        self.bow_proj = nn.Linear(d, d)
        self.denoiser = LatentDenoiser(den, slots=1, layers=spec.denoiser_layers)
        self.diffusion = GaussianDiffusion(spec.diffusion_steps, spec.schedule)

    # --- backbone passes -------------------------------------------------------------------
    def _embeddings(self) -> torch.Tensor:
        return self.lm.get_input_embeddings().weight

    def hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Final-layer hidden states (after the final norm) of `ids`, no prefix."""
        out = self.lm(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        return out.hidden_states[-1]

    def prefix(self, latent: torch.Tensor) -> DynamicCache:
        return prefix_cache(self.latent_kv(latent), self.layers, self.kv_heads, self.head_dim)

    def logits(self, ids: torch.Tensor, mask: torch.Tensor,
               latent: torch.Tensor | None) -> torch.Tensor:
        """Logits of `ids` (mask over `ids` only) after the latent prefix, if any."""
        if latent is None:
            return self.lm(input_ids=ids, attention_mask=mask).logits
        past = self.prefix(latent)
        full = torch.cat([mask.new_ones(mask.shape[0], past.get_seq_length()), mask], dim=1)
        return self.lm(input_ids=ids, attention_mask=full, past_key_values=past).logits

    def step(self, ids: torch.Tensor, full_mask: torch.Tensor, cache: DynamicCache | None):
        """Incremental decoding: `full_mask` covers the cache (prefix included) and `ids`."""
        out = self.lm(input_ids=ids, attention_mask=full_mask, past_key_values=cache,
                      use_cache=True)
        return out.logits[:, -1], out.past_key_values

    # --- latent -----------------------------------------------------------------------------
    def encode(self, ids, mask, prompt_len, last) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One pass over prompt + response: (context states, context mask, z0 (B, 1, d))."""
        h = self.hidden(ids, mask)
        p = int(prompt_len.max())
        ctx_mask = (torch.arange(p, device=ids.device)[None] < prompt_len[:, None]).long()
        z0 = self.latent_proj(h[torch.arange(h.shape[0]), last])[:, None]
        return h[:, :p], ctx_mask, z0

    def context(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> torch.Tensor:
        return self.hidden(prompt_ids, prompt_mask)

    def denoise(self, xt, t, ctx, ctx_mask) -> torch.Tensor:
        return self.denoiser(xt, t, ctx, ctx_mask)

    @torch.no_grad()
    def sample_latent(self, ctx, ctx_mask, x_T, steps=50, spacing="stride",
                      clamp: float | None = 1.0) -> torch.Tensor:
        return self.diffusion.ddim_sample(lambda x, t: self.denoise(x, t, ctx, ctx_mask), x_T,
                                          steps, spacing, clamp)

    # --- training ---------------------------------------------------------------------------
    def forward(self, batch: dict[str, torch.Tensor],
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        ids, mask, labels = batch["ids"], batch["mask"], batch["labels"]
        if not self.spec.use_latent:
            logits = self.logits(ids, mask, None)
            nll = token_nll(logits[:, :-1], labels[:, 1:]).mean()
            return {"loss": nll, "reconstruction": nll}
        w = self.spec.loss_weights
        ctx, ctx_mask, z0 = self.encode(ids, mask, batch["prompt_len"], batch["last"])
        t = self.diffusion.sample_t(ids.shape[0], generator, ids.device)
        noise = torch.randn(z0.shape, generator=generator, device=z0.device)
        x0_hat = self.denoise(self.diffusion.q_sample(z0, t, noise), t, ctx, ctx_mask)
        losses = {"diffusion": self.diffusion.x0_loss(x0_hat, z0).mean()}
        dec_mask = self._context_dropout(batch, generator)
        losses["reconstruction"] = self._nll(ids, dec_mask, labels, x0_hat.detach())
        if w.get("gold_reconstruction", 0.0) > 0:
            losses["gold_reconstruction"] = self._nll(ids, dec_mask, labels, z0)
        losses["bow"] = self._bow(z0[:, 0], labels)
        losses["loss"] = sum(w.get(k, 0.0) * v for k, v in losses.items())
        return losses

    def _nll(self, ids, mask, labels, latent) -> torch.Tensor:
        logits = self.logits(ids, mask, latent)
        return token_nll(logits[:, :-1], labels[:, 1:]).mean()

    def _context_dropout(self, batch, generator) -> torch.Tensor:
        """Mask the whole prompt for a random subset of examples (the decoder then has only the
        latent to go on), which pushes response information into z0."""
        p = self.spec.context_dropout
        mask = batch["mask"]
        if p <= 0 or not self.training:
            return mask
        drop = torch.rand(mask.shape[0], generator=generator, device=mask.device) < p
        in_prompt = torch.arange(mask.shape[1], device=mask.device)[None] < \
            batch["prompt_len"][:, None]
        return mask.masked_fill(drop[:, None] & in_prompt, 0)

    def _bow(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(self.bow_proj(z) @ self._embeddings().detach().T, dim=-1)
        weight = (labels != -100).float()
        picked = logp.gather(1, labels.clamp(min=0))
        return (-(picked * weight).sum(1) / weight.sum(1).clamp(min=1)).mean()

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Only what training changes (LoRA + latent modules): the backbone is loaded again."""
        names = {n for n, p in self.named_parameters() if p.requires_grad}
        return {n: t.detach().contiguous() for n, t in self.state_dict().items() if n in names}
