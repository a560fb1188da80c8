"""A Llama-family decoder that runs any contiguous block of layers [start, end).

Kangaroo needs the target split at its exit layer l: layers [0, l) on token embeddings (the
draft's shallow sub-network) and layers [l, N) on stored exit-layer features (verification), both
writing one ``KVCache``. ``run_layers`` is that primitive; ``forward`` chains it over all layers
and equals HF ``LlamaForCausalLM`` in fp32 (tests/test_llama.py). Attention is SDPA with
``enable_gqa`` (no repeated K/V) and an explicit boolean mask only where the new tokens are not a
plain causal chain (prefill with a cache, trees).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from kangaroo.kv_cache import KVCache


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
    rope_scaling: dict | None = None
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
            raise ValueError("config.json: num_attention_heads must be a multiple of "
                             f"num_key_value_heads, got {self.num_attention_heads} and "
                             f"{self.num_key_value_heads}")
        kind = (self.rope_scaling or {}).get("rope_type", "default")
        if kind not in ("default", "llama3"):
            raise ValueError(f"config.json: rope_scaling type {kind!r} is not supported "
                             "(default, llama3)")

    @classmethod
    def from_hf_dict(cls, cfg: dict) -> LlamaConfig:
        """From an HF ``config.json`` dict (transformers 4 or 5 layout)."""
        if cfg.get("model_type", "llama") not in ("llama", "mistral"):
            raise ValueError(f"config.json: model_type must be llama or mistral, got "
                             f"{cfg.get('model_type')!r}")
        rope = dict(cfg.get("rope_parameters") or cfg.get("rope_scaling") or {})
        theta = cfg.get("rope_theta", rope.get("rope_theta", 10000.0))
        kind = rope.get("rope_type", rope.get("type", "default"))
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in cfg.items() if k in names and k != "rope_scaling"}
        kwargs["rope_theta"] = float(theta)
        kwargs["rope_scaling"] = None if kind == "default" else {**rope, "rope_type": kind}
        return cls(**kwargs)

    def to_dict(self) -> dict:
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # HF's op order (normalise in fp32, cast back, then scale) keeps bf16 results equal.
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


def rope_inv_freq(cfg: LlamaConfig) -> torch.Tensor:
    hd = cfg.head_dim
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    sc = cfg.rope_scaling
    if not sc:
        return inv
    # Llama-3.1 "llama3" frequency scaling (same formula as HF's _compute_llama3_parameters).
    factor, low, high = sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"]
    old = sc["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv
    scaled = torch.where(wavelen > old / low, inv / factor, inv)
    smooth = (old / wavelen - low) / (high - low)
    mid = (1 - smooth) * scaled / factor + smooth * scaled
    is_mid = (wavelen >= old / high) & (wavelen <= old / low)
    return torch.where(is_mid, mid, scaled)


class Rope(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.register_buffer("inv_freq", rope_inv_freq(cfg), persistent=False)

    def forward(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor,
                                                                           torch.Tensor]:
        freqs = positions.float()[:, None] * self.inv_freq[None]
        emb = torch.cat([freqs, freqs], dim=-1)
        return emb.cos().to(dtype), emb.sin().to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


def attention_mask(cached: int, n: int, tree: torch.Tensor | None,
                   device: torch.device) -> torch.Tensor | None:
    """Boolean [n, cached + n] mask (True = may attend), or None when SDPA needs none.

    ``tree`` [n, m] covers the last m slots (the draft tree of this cycle, m >= n); every slot
    before them is the accepted prefix, visible to all. None means a causal chain."""
    if tree is None:
        if n == 1:
            return None
        tree = torch.ones(n, n, dtype=torch.bool, device=device).tril()
    prefix = torch.ones(n, cached + n - tree.shape[1], dtype=torch.bool, device=device)
    return torch.cat([prefix, tree], dim=1)


class Attention(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        hd, nh, nkv, d = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads, \
            cfg.hidden_size
        self.head_dim = hd
        self.q_proj = nn.Linear(d, nh * hd, bias=cfg.attention_bias)
        self.k_proj = nn.Linear(d, nkv * hd, bias=cfg.attention_bias)
        self.v_proj = nn.Linear(d, nkv * hd, bias=cfg.attention_bias)
        self.o_proj = nn.Linear(nh * hd, d, bias=cfg.attention_bias)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                mask: torch.Tensor | None, cache: KVCache | None, layer: int) -> torch.Tensor:
        b, n, _ = x.shape
        q = self.q_proj(x).view(b, n, -1, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, n, -1, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, n, -1, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.append(layer, k, v)
        causal = mask is None and cache is None and n > 1
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                             scale=self.head_dim ** -0.5, enable_gqa=True)
        return self.o_proj(out.transpose(1, 2).reshape(b, n, -1))


class MLP(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        d, m, bias = cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias
        self.gate_proj = nn.Linear(d, m, bias=bias)
        self.up_proj = nn.Linear(d, m, bias=bias)
        self.down_proj = nn.Linear(m, d, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                mask: torch.Tensor | None, cache: KVCache | None, layer: int) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, layer)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaLM(nn.Module):
    """Parameter names follow HF without the ``model.`` prefix, so state dicts load directly."""

    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.rope = Rope(cfg)
        if not cfg.tie_word_embeddings:
            self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    @property
    def num_layers(self) -> int:
        return self.cfg.num_hidden_layers

    @property
    def head_weight(self) -> torch.Tensor:
        return self.embed_tokens.weight if self.cfg.tie_word_embeddings else self.lm_head.weight

    def new_cache(self, capacity: int = 256) -> KVCache:
        return KVCache(self.num_layers, capacity)

    def run_layers(self, h: torch.Tensor, start: int, end: int, positions: torch.Tensor,
                   cache: KVCache | None = None, tree: torch.Tensor | None = None
                   ) -> torch.Tensor:
        """Layers [start, end) on hidden states ``h`` [B, n, d] at ``positions`` [n].

        With a cache the new tokens attend to every cached slot of each layer plus, among
        themselves, the causal order or the boolean ``tree`` (see ``attention_mask``)."""
        if start == end:
            return h
        n = h.shape[1]
        cached = cache.lengths[start] if cache is not None else 0
        mask = attention_mask(cached, n, tree, h.device) if (cache is not None or tree is not None) \
            else None
        cos, sin = self.rope(positions, h.dtype)
        for i in range(start, end):
            h = self.layers[i](h, cos, sin, mask, cache, i)
        return h

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """LM head on the final norm: what both verification and the drafts end with."""
        return F.linear(self.norm(h), self.head_weight)

    def forward(self, ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        start = cache.lengths[0] if cache is not None else 0
        positions = torch.arange(start, start + ids.shape[1], device=ids.device)
        h = self.run_layers(self.embed_tokens(ids), 0, self.num_layers, positions, cache)
        return self.logits(h)
