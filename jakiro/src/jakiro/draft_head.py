"""Draft heads: the EAGLE one-layer head and the Jakiro MoE head with a contrastive branch.

Both take the target's final post-norm feature f_t and the embedding of the next token x_{t+1},
fuse them with ``fc``, and run one Llama decoder layer (no input norm at layer 0, as EAGLE).
The frozen embedding and LM head belong to the target and are passed in, never stored here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from jakiro.checks import ConfigError, non_negative
from jakiro.kv_cache import KVCache
from jakiro.llama import Attention, LlamaConfig, RMSNorm, SwiGLU, attention_mask, rope_cos_sin


@dataclass
class HeadConfig:
    kind: str = "jakiro"  # "eagle" or "jakiro"
    num_experts: int = 2
    experts_per_token: int = 0  # 0 = dense soft gate over all experts (Jakiro default)
    expert_width: int = 0  # 0 = hidden size (Jakiro); EAGLE uses the target's MLP width
    mlp_width: int = 0  # EAGLE MLP width; 0 = target intermediate size

    def __post_init__(self) -> None:
        if self.kind not in ("eagle", "jakiro"):
            raise ConfigError(f"head.kind must be 'eagle' or 'jakiro', got {self.kind!r}")
        if self.kind == "jakiro" and self.num_experts < 2:
            raise ConfigError(f"head.num_experts must be >= 2, got {self.num_experts}")
        if not 0 <= self.experts_per_token <= self.num_experts:
            raise ConfigError("head.experts_per_token must be in [0, num_experts]")
        non_negative("head", expert_width=self.expert_width, mlp_width=self.mlp_width)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class MoEOutput:
    left: torch.Tensor  # soft-gated mixture, predicts f_{t+1}
    right: torch.Tensor | None  # contrastive dominant-minus-other, predicts f_{t+2}
    experts: torch.Tensor | None  # [E, ..., d] raw expert outputs (for Jakiro* decoupling)
    balance_loss: torch.Tensor | None


class MoEBlock(nn.Module):
    """E SwiGLU experts with a dense (or top-k) soft gate and a second, contrastive gate.

    The gate has 2E logits: the first E mix the experts into the left branch; the last E pick
    a dominant expert hi and a runner-up lo, and the right branch is r_hi*E_hi - r_lo*E_lo with
    (r_hi, r_lo) the softmax over those two logits. For E=2 this is exactly Jakiro's 4-way gate.
    """

    def __init__(self, hidden: int, width: int, num_experts: int, experts_per_token: int) -> None:
        super().__init__()
        self.experts = nn.ModuleList(SwiGLU(hidden, width) for _ in range(num_experts))
        self.gate = nn.Linear(hidden, 2 * num_experts, bias=False)
        self.num_experts = num_experts
        self.top = experts_per_token or num_experts

    def mix_weights(self, g: torch.Tensor) -> torch.Tensor:
        """Left-branch weights [..., E]: softmax over the top-k logits, zero elsewhere."""
        if self.top == self.num_experts:
            return g.softmax(-1)
        vals, idx = g.topk(self.top, dim=-1)
        return torch.zeros_like(g).scatter(-1, idx, vals.softmax(-1))

    def contrastive(self, g: torch.Tensor, outs: torch.Tensor) -> torch.Tensor:
        vals, idx = g.topk(2, dim=-1)  # dominant first
        r = vals.softmax(-1)
        per_token = outs.movedim(0, -2)  # [..., E, d]
        pick = per_token.gather(-2, idx[..., None].expand(*idx.shape, outs.shape[-1]))
        return r[..., 0:1] * pick[..., 0, :] - r[..., 1:2] * pick[..., 1, :]

    def forward(self, x: torch.Tensor, right: bool, keep_experts: bool = False) -> MoEOutput:
        outs = torch.stack([e(x) for e in self.experts])  # dense: every expert runs
        g = self.gate(x)
        g_left, g_right = g[..., : self.num_experts], g[..., self.num_experts :]
        w = self.mix_weights(g_left)
        left = torch.einsum("e...d,...e->...d", outs, w)
        balance = None
        if self.top < self.num_experts:
            # Switch-style load balancing: E * sum_i (fraction routed to i) * (mean gate prob i).
            frac = (w > 0).float().flatten(0, -2).mean(0)
            prob = g_left.softmax(-1).flatten(0, -2).mean(0)
            balance = self.num_experts * (frac * prob).sum()
        return MoEOutput(
            left=left,
            right=self.contrastive(g_right, outs) if right else None,
            experts=outs if keep_experts else None,
            balance_loss=balance,
        )


@dataclass
class HeadOutput:
    left: torch.Tensor
    right: torch.Tensor | None = None
    experts: torch.Tensor | None = None  # [E, B, n, d] residual + expert_i(x), Jakiro* only
    balance_loss: torch.Tensor | None = None


class DraftHead(nn.Module):
    def __init__(self, target_cfg: LlamaConfig, cfg: HeadConfig) -> None:
        super().__init__()
        d = target_cfg.hidden_size
        self.target_cfg = target_cfg
        self.cfg = cfg
        self.fc = nn.Linear(2 * d, d, bias=True)
        self.self_attn = Attention(target_cfg)
        self.post_attention_layernorm = RMSNorm(d, target_cfg.rms_norm_eps)
        if cfg.kind == "eagle":
            self.mlp = SwiGLU(d, cfg.mlp_width or target_cfg.intermediate_size)
        else:
            self.moe = MoEBlock(d, cfg.expert_width or d, cfg.num_experts, cfg.experts_per_token)

    def new_cache(self, max_len: int) -> KVCache:
        c = self.target_cfg
        w = self.fc.weight
        return KVCache(1, 1, c.num_key_value_heads, max_len, c.head_dim, w.dtype, w.device)

    def forward(
        self,
        features: torch.Tensor,
        token_embeds: torch.Tensor,
        positions: torch.Tensor | None = None,
        cache: KVCache | None = None,
        tree_mask: torch.Tensor | None = None,
        right: bool = False,
        experts: bool = False,
    ) -> HeadOutput:
        """features, token_embeds: [B, n, d] with token_embeds = E(x_{t+1}) paired with f_t."""
        b, n, _ = features.shape
        past = cache.length if cache is not None else 0
        x = self.fc(torch.cat([token_embeds, features], dim=-1))
        if positions is None:
            positions = torch.arange(past, past + n, device=x.device)
        positions = positions.to(x.device).expand(b, n)
        mask = attention_mask(n, past, tree_mask, x.dtype, x.device)
        cos, sin = rope_cos_sin(positions, self.target_cfg.head_dim, self.target_cfg.rope_theta,
                                x.dtype)
        x = x + self.self_attn(x, cos, sin, mask, cache, 0)
        if cache is not None:
            cache.length = past + n
        h = self.post_attention_layernorm(x)
        if self.cfg.kind == "eagle":
            return HeadOutput(left=x + self.mlp(h))
        out = self.moe(h, right=right, keep_experts=experts)
        return HeadOutput(
            left=x + out.left,
            right=None if out.right is None else x + out.right,
            experts=None if out.experts is None else x[None] + out.experts,
            balance_loss=out.balance_loss,
        )


def head_logits(lm_head_weight: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Draft logits W_h h with no final norm (targets are post-norm features)."""
    return F.linear(h, lm_head_weight)
