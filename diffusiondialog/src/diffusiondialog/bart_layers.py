"""BART encoder/decoder layers written out so the decoder can take a latent key/value prefix.

Parameter names match `transformers.BartModel` (``shared``, ``encoder.layers.0.self_attn.q_proj``,
...), so a real `facebook/bart-base` state dict loads by name into these modules.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BartConfig

# BART's learned positions are offset by 2 (a fairseq legacy kept by transformers).
POSITION_OFFSET = 2


class LearnedPositions(nn.Embedding):
    """Learned absolute positions with BART's offset of 2."""

    def __init__(self, max_positions: int, dim: int) -> None:
        super().__init__(max_positions + POSITION_OFFSET, dim)

    def forward(self, length: int, start: int = 0) -> torch.Tensor:  # type: ignore[override]
        if start + length > self.num_embeddings - POSITION_OFFSET:
            raise ValueError(
                f"sequence length {start + length} exceeds max_position_embeddings "
                f"{self.num_embeddings - POSITION_OFFSET}"
            )
        idx = torch.arange(start, start + length, device=self.weight.device) + POSITION_OFFSET
        return super().forward(idx)


class Attention(nn.Module):
    """Multi-head attention with an optional per-head key/value prefix (the latent memory)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"d_model {dim} is not divisible by the number of heads {heads}")
        self.heads, self.head_dim, self.dropout = heads, dim // heads, dropout
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        memory: torch.Tensor,
        allowed: torch.Tensor | None,
        prefix_k: torch.Tensor | None = None,
        prefix_v: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`allowed` is a boolean mask broadcastable to (B, heads, Lq, Lk) including the prefix."""
        q = self._split(self.q_proj(query))
        k, v = self.k_proj(memory), self.v_proj(memory)
        if prefix_k is not None and prefix_v is not None:
            k, v = torch.cat([prefix_k, k], dim=1), torch.cat([prefix_v, v], dim=1)
        k, v = self._split(k), self._split(v)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0
        )
        b, _, n, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, self.heads * self.head_dim))


class FeedForward(nn.Module):
    """BART's post-LN position-wise FFN (fc1 -> act -> fc2, residual, final_layer_norm)."""

    def __init__(self, dim: int, hidden: int, dropout: float, act_dropout: float) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.final_layer_norm = nn.LayerNorm(dim)
        self.dropout, self.act_dropout = dropout, act_dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.dropout(F.gelu(self.fc1(x)), self.act_dropout, self.training)
        h = F.dropout(self.fc2(h), self.dropout, self.training)
        return self.final_layer_norm(x + h)


class EncoderLayer(nn.Module):
    def __init__(self, cfg: BartConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.self_attn = Attention(d, cfg.encoder_attention_heads, cfg.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.ffn = FeedForward(d, cfg.encoder_ffn_dim, cfg.dropout, cfg.activation_dropout)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
        h = F.dropout(self.self_attn(x, x, allowed), self.dropout, self.training)
        return self.ffn(self.self_attn_layer_norm(x + h))


class DecoderLayer(nn.Module):
    """Self-attention (optionally with a latent K/V prefix), cross-attention, FFN."""

    def __init__(self, cfg: BartConfig, latent_prefix: bool) -> None:
        super().__init__()
        d = cfg.d_model
        self.self_attn = Attention(d, cfg.decoder_attention_heads, cfg.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = Attention(d, cfg.decoder_attention_heads, cfg.attention_dropout)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.ffn = FeedForward(d, cfg.decoder_ffn_dim, cfg.dropout, cfg.activation_dropout)
        self.dropout = cfg.dropout
        # Per-layer maps latent -> one extra key and value per head (the paper's injection).
        self.latent_K = nn.Linear(d, d) if latent_prefix else None
        self.latent_V = nn.Linear(d, d) if latent_prefix else None

    def forward(
        self,
        x: torch.Tensor,
        self_allowed: torch.Tensor | None,
        enc: torch.Tensor,
        enc_allowed: torch.Tensor | None,
        latent: torch.Tensor | None = None,
    ) -> torch.Tensor:
        pk = pv = None
        if latent is not None:
            if self.latent_K is None or self.latent_V is None:
                raise ValueError("a latent was passed to a decoder built without latent_prefix")
            pk, pv = self.latent_K(latent), self.latent_V(latent)
        h = self.self_attn(x, x, self_allowed, pk, pv)
        x = self.self_attn_layer_norm(x + F.dropout(h, self.dropout, self.training))
        h = self.encoder_attn(x, enc, enc_allowed)
        x = self.encoder_attn_layer_norm(x + F.dropout(h, self.dropout, self.training))
        return self.ffn(x)


# FFN weights live under `ffn.` here but at layer level in transformers; map names both ways.
_FFN_NAMES = ("fc1.", "fc2.", "final_layer_norm.")


def to_hf_name(name: str) -> str:
    for n in _FFN_NAMES:
        name = name.replace(f".ffn.{n}", f".{n}")
    return name


def from_hf_name(name: str) -> str:
    parts = name.split(".")
    for i, p in enumerate(parts):
        if p in ("fc1", "fc2", "final_layer_norm") and i > 0 and parts[i - 1].isdigit():
            return ".".join(parts[:i] + ["ffn"] + parts[i:])
    return name


class Stack(nn.Module):
    """Embeddings + layers of a BART encoder or decoder (token embeddings are shared outside)."""

    def __init__(self, cfg: BartConfig, layers: list[nn.Module]) -> None:
        super().__init__()
        self.embed_positions = LearnedPositions(cfg.max_position_embeddings, cfg.d_model)
        self.layernorm_embedding = nn.LayerNorm(cfg.d_model)
        self.layers = nn.ModuleList(layers)
        self.dropout = cfg.dropout
        self.embed_scale = math.sqrt(cfg.d_model) if cfg.scale_embedding else 1.0

    def embed(self, token_embeds: torch.Tensor) -> torch.Tensor:
        x = token_embeds + self.embed_positions(token_embeds.shape[1])
        return F.dropout(self.layernorm_embedding(x), self.dropout, self.training)


def padding_allowed(mask: torch.Tensor) -> torch.Tensor:
    """(B, L) 1/0 key mask -> boolean (B, 1, 1, L) attention mask."""
    return mask.bool()[:, None, None, :]


def causal_allowed(length: int, prefix: int, device: torch.device) -> torch.Tensor:
    """(1, 1, L, prefix+L) causal mask whose first `prefix` columns (the latent) are always open."""
    causal = torch.ones(length, length, dtype=torch.bool, device=device).tril()
    open_prefix = torch.ones(length, prefix, dtype=torch.bool, device=device)
    return torch.cat([open_prefix, causal], dim=1)[None, None]
