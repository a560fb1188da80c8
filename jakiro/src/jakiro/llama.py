"""A small in-house Llama (RMSNorm, RoPE, GQA, SwiGLU) with explicit additive attention masks.

Why in-house rather than HF with 4D masks: tree verification, KV compaction and truncation are
first-class operations here, and the module does not depend on transformers internals that
change between releases. Logits equal HF ``LlamaForCausalLM`` in fp32 (tests/test_llama.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from jakiro.kv_cache import KVCache


@dataclass
class LlamaConfig:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int | None = None
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = False
    max_position_embeddings: int = 2048
    attention_bias: bool = False
    mlp_bias: bool = False
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None

    def __post_init__(self) -> None:
        if self.head_dim is None:
            self.head_dim = self.hidden_size // self.num_attention_heads
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                "LlamaConfig: num_attention_heads must be a multiple of num_key_value_heads, got "
                f"{self.num_attention_heads} and {self.num_key_value_heads}"
            )

    @classmethod
    def from_hf_dict(cls, cfg: dict) -> LlamaConfig:
        """Build from an HF ``config.json`` dict; rejects features this runtime does not model."""
        arch = cfg.get("model_type", "llama")
        if arch not in ("llama", "mistral", "qwen2"):
            raise ValueError(f"config.json: model_type must be llama/mistral/qwen2, got {arch!r}")
        rope_scaling = cfg.get("rope_scaling")
        if rope_scaling and rope_scaling.get("rope_type", rope_scaling.get("type")) != "default":
            raise ValueError(f"config.json: rope_scaling {rope_scaling} is not supported")
        rope_theta = cfg.get("rope_theta")
        if rope_theta is None:  # transformers 5 stores it inside rope_parameters
            rope_theta = (cfg.get("rope_parameters") or {}).get("rope_theta", 10000.0)
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in cfg.items() if k in names}
        kwargs["rope_theta"] = float(rope_theta)
        if arch == "qwen2":
            kwargs["attention_bias"] = True
        return cls(**kwargs)

    def to_dict(self) -> dict:
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Same op order as HF: normalise in fp32, cast back, then scale.
        dtype = x.dtype
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(dtype)


def rope_cos_sin(
    positions: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables for integer ``positions`` of shape [B, n] (HF half-rotation layout)."""
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = positions.to(torch.float32)[..., None] * inv.to(positions.device)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return x * cos[:, None] + _rotate_half(x) * sin[:, None]


class Attention(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        hd, nh, nkv = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
        self.q_proj = nn.Linear(cfg.hidden_size, nh * hd, bias=cfg.attention_bias)
        self.k_proj = nn.Linear(cfg.hidden_size, nkv * hd, bias=cfg.attention_bias)
        self.v_proj = nn.Linear(cfg.hidden_size, nkv * hd, bias=cfg.attention_bias)
        self.o_proj = nn.Linear(nh * hd, cfg.hidden_size, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor,
        cache: KVCache | None,
        layer: int,
    ) -> torch.Tensor:
        b, n, _ = x.shape
        hd = self.cfg.head_dim
        q = self.q_proj(x).view(b, n, -1, hd).transpose(1, 2)
        k = self.k_proj(x).view(b, n, -1, hd).transpose(1, 2)
        v = self.v_proj(x).view(b, n, -1, hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.write(layer, k, v)
        # GQA inside SDPA: the cached K/V rows are read in place, not copied per query group.
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0 / math.sqrt(hd),
                                             enable_gqa=k.shape[1] != q.shape[1])
        return self.o_proj(out.transpose(1, 2).reshape(b, n, -1))


class SwiGLU(nn.Module):
    def __init__(self, hidden: int, inter: int, bias: bool = False) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(hidden, inter, bias=bias)
        self.up_proj = nn.Linear(hidden, inter, bias=bias)
        self.down_proj = nn.Linear(inter, hidden, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = SwiGLU(cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, cos, sin, mask, cache, layer):  # noqa: ANN001, ANN201 - hot path
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, layer)
        return x + self.mlp(self.post_attention_layernorm(x))


def causal_mask(n_new: int, past: int, dtype: torch.dtype, device=None) -> torch.Tensor:
    """Additive [n_new, past + n_new] mask: new token i sees the cache and new tokens <= i."""
    full = torch.full((n_new, past + n_new), float("-inf"), dtype=dtype, device=device)
    return torch.triu(full, diagonal=past + 1)


def attention_mask(
    n_new: int, past: int, tree_mask: torch.Tensor | None, dtype: torch.dtype, device=None
) -> torch.Tensor | None:
    """Causal mask, with the last ``tree_mask.shape[1]`` columns replaced by ``tree_mask``.

    ``tree_mask`` is boolean [n_new, m] (True = may attend) over the last m cache rows including
    the new ones, so draft trees can also address tree rows written by earlier forwards.
    None (no mask) for one causal token: it sees every row, so SDPA skips the mask.
    """
    if n_new == 1 and tree_mask is None:
        return None
    mask = causal_mask(n_new, past, dtype, device)
    if tree_mask is not None:
        m = tree_mask.shape[1]
        if tree_mask.shape[0] != n_new or m > past + n_new or m < n_new:
            raise ValueError(f"tree_mask shape {tuple(tree_mask.shape)} invalid for {n_new} tokens")
        mask[:, past + n_new - m :] = torch.where(tree_mask.to(device), 0.0, float("-inf"))
    return mask


class LlamaLM(nn.Module):
    """Decoder-only Llama. ``forward`` returns the final post-norm features and optional logits."""

    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight

    def new_cache(self, max_len: int, batch: int = 1) -> KVCache:
        c = self.cfg
        p = self.embed_tokens.weight
        return KVCache(
            c.num_hidden_layers, batch, c.num_key_value_heads, max_len, c.head_dim, p.dtype,
            p.device,
        )

    def forward(
        self,
        input_ids: torch.Tensor,
        positions: torch.Tensor | None = None,
        cache: KVCache | None = None,
        tree_mask: torch.Tensor | None = None,
        logits: bool | str = True,
        attn_bias: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run ``input_ids`` [B, n] on top of ``cache`` (which grows by n).

        ``tree_mask``: see ``attention_mask``; without it the new tokens are causal.
        ``positions`` default to past + arange(n). ``logits``: True (every position), "last"
        (the last position only: a prefill needs one next-token distribution, and the LM head
        is a fifth of SmolLM2) or False. ``attn_bias``: a full additive mask [B, 1, n, past+n]
        used instead of the causal/tree mask (padded batches).
        """
        b, n = input_ids.shape
        past = cache.length if cache is not None else 0
        x = self.embed_tokens(input_ids)
        if positions is None:
            positions = torch.arange(past, past + n, device=x.device).expand(b, n)
        else:
            positions = positions.to(x.device).expand(b, n)
        mask = attn_bias if attn_bias is not None else attention_mask(n, past, tree_mask, x.dtype,
                                                                      x.device)
        cos, sin = rope_cos_sin(positions, self.cfg.head_dim, self.cfg.rope_theta, x.dtype)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, mask, cache, i)
        if cache is not None:
            cache.length = past + n
        h = self.norm(x)
        if logits == "last":
            return h, self.lm_head(h[:, -1:])
        return h, (self.lm_head(h) if logits else None)
