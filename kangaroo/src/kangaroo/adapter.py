"""The Kangaroo adapter: one attention-only decoder layer and two RMSNorms.

    z = h + Attention(RMSNorm(h))      # RoPE, causal, its own KV cache; no MLP
    A(h) = RMSNorm(z)                  # then the target's frozen LM head

``h`` is the target's feature after its first l layers. With the target's head geometry the
adapter has 4 d^2 weights for plain multi-head attention (67 M for Vicuna-7B); SmolLM2's
grouped-query attention makes it smaller.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from kangaroo.assets import fingerprint
from kangaroo.kv_cache import KVCache
from kangaroo.llama import Attention, LlamaConfig, LlamaLM, RMSNorm, Rope, attention_mask


@dataclass
class AdapterSpec:
    hidden_size: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    rope_scaling: dict | None
    exit_layer: int
    target_name: str
    target_fingerprint: str

    @classmethod
    def for_target(cls, model: LlamaLM, name: str, exit_layer: int, num_heads: int = 0,
                   num_kv_heads: int = 0) -> AdapterSpec:
        """The target's attention geometry unless ``num_heads`` (0 = same) asks for another
        (then plain multi-head unless ``num_kv_heads`` is given)."""
        c = model.cfg
        if num_heads:
            heads, kv, head_dim = num_heads, num_kv_heads or num_heads, c.hidden_size // num_heads
        else:
            heads, kv, head_dim = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        return cls(c.hidden_size, heads, kv, head_dim, c.rms_norm_eps, c.rope_theta,
                   c.rope_scaling, exit_layer, name, fingerprint(model))

    def attention_config(self) -> LlamaConfig:
        return LlamaConfig(vocab_size=1, hidden_size=self.hidden_size, intermediate_size=1,
                           num_hidden_layers=1, num_attention_heads=self.num_attention_heads,
                           num_key_value_heads=self.num_key_value_heads, head_dim=self.head_dim,
                           rms_norm_eps=self.rms_norm_eps, rope_theta=self.rope_theta,
                           rope_scaling=self.rope_scaling)


class Adapter(nn.Module):
    def __init__(self, spec: AdapterSpec) -> None:
        super().__init__()
        self.spec = spec
        cfg = spec.attention_config()
        self.input_layernorm = RMSNorm(spec.hidden_size, spec.rms_norm_eps)
        self.self_attn = Attention(cfg)
        self.norm = RMSNorm(spec.hidden_size, spec.rms_norm_eps)
        self.rope = Rope(cfg)

    def new_cache(self, capacity: int = 256) -> KVCache:
        return KVCache(1, capacity)

    def forward(self, h: torch.Tensor, positions: torch.Tensor, cache: KVCache | None = None,
                tree: torch.Tensor | None = None) -> torch.Tensor:
        """Adapted features [B, n, d] for exit-layer features ``h`` at ``positions``."""
        n = h.shape[1]
        cached = cache.lengths[0] if cache is not None else 0
        mask = attention_mask(cached, n, tree, h.device) if (cache is not None or tree is not None) \
            else None
        cos, sin = self.rope(positions, h.dtype)
        z = h + self.self_attn(self.input_layernorm(h), cos, sin, mask, cache, 0)
        return self.norm(z)


def expected_parameters(spec: AdapterSpec) -> int:
    """Closed-form count: q, k, v, o projections and the two norm weights."""
    d, q, kv = spec.hidden_size, spec.num_attention_heads * spec.head_dim, \
        spec.num_key_value_heads * spec.head_dim
    return d * q + 2 * d * kv + q * d + 2 * d


def init_adapter(spec: AdapterSpec, target: LlamaLM, seed: int) -> Adapter:
    """Attention from the target's layer l (a warm start the paper's code also allows), norms
    from its layer-l input norm and final norm: the untrained adapter then already drafts like
    the no-adapter early exit, and training only has to improve on it."""
    torch.manual_seed(seed)
    adapter = Adapter(spec)
    layer = target.layers[min(spec.exit_layer, target.num_layers - 1)]
    same_geometry = (spec.num_attention_heads == target.cfg.num_attention_heads
                     and spec.num_key_value_heads == target.cfg.num_key_value_heads
                     and spec.head_dim == target.cfg.head_dim)
    with torch.no_grad():
        if same_geometry:
            adapter.self_attn.load_state_dict(layer.self_attn.state_dict())
        adapter.input_layernorm.weight.copy_(layer.input_layernorm.weight)
        adapter.norm.weight.copy_(target.norm.weight)
    return adapter.float()


ADAPTER_WEIGHTS = "adapter.safetensors"
ADAPTER_SPEC = "adapter.json"


def save_adapter(folder: Path, adapter: Adapter, extra: dict | None = None) -> None:
    """Weights + spec into a temporary folder, renamed into place as one unit."""
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().float().contiguous() for k, v in adapter.state_dict().items()},
              str(tmp / ADAPTER_WEIGHTS))
    (tmp / ADAPTER_SPEC).write_text(json.dumps({"spec": asdict(adapter.spec), **(extra or {})},
                                               indent=1))
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)


def load_adapter(folder: str | Path, target: LlamaLM, exit_layer: int,
                 dtype: torch.dtype = torch.float32) -> Adapter:
    """Load an adapter and refuse one trained for another target or exit layer."""
    folder = Path(folder)
    spec_file, weights = folder / ADAPTER_SPEC, folder / ADAPTER_WEIGHTS
    for f in (spec_file, weights):
        if not f.exists():
            raise FileNotFoundError(f"eval.adapter: {f} is missing; expected a folder written by "
                                    "kangaroo-train (out_dir/adapter)")
    try:
        spec = AdapterSpec(**json.loads(spec_file.read_text())["spec"])
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"{spec_file}: not an adapter spec ({e}); retrain with kangaroo-train") \
            from None
    if spec.target_fingerprint != fingerprint(target):
        raise ValueError(f"{spec_file}: adapter was trained for target {spec.target_name!r} "
                         f"(fingerprint {spec.target_fingerprint}), not for the loaded target "
                         f"(fingerprint {fingerprint(target)}); train one for this model.spec")
    if spec.exit_layer != exit_layer:
        raise ValueError(f"{spec_file}: adapter was trained for exit layer {spec.exit_layer}, "
                         f"but model.exit_layer={exit_layer}; set model.exit_layer="
                         f"{spec.exit_layer} or train a new adapter")
    adapter = Adapter(spec)
    adapter.load_state_dict(load_file(str(weights)))
    return adapter.to(dtype).eval()
