"""One LoRA unlearning step (NAUF loss: refusal CE + answer-masked KL) on CUDA in bf16.

Self-contained for a lent GPU machine with its own Python/torch/transformers: needs only torch
and transformers (peft is used when installed, else a minimal LoRA below); imports the loss
registry from ../src without installing the package. Prints and writes JSON with peak memory
and median step time for a randomly initialised 1B-class Llama (TinyLlama-1.1B shape).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from nauf_return.losses import compute_loss, parse_method  # noqa: E402


class LoRALinear(nn.Module):
    """Fallback LoRA: y = W x + (alpha/r) B A x, switchable off for the reference pass."""

    def __init__(self, base: nn.Linear, r: int = 8, alpha: int = 32):
        super().__init__()
        self.base, self.scale, self.enabled = base, alpha / r, True
        self.A = nn.Parameter(torch.randn(r, base.in_features, dtype=base.weight.dtype,
                                          device=base.weight.device) * 0.01)
        self.B = nn.Parameter(torch.zeros(base.out_features, r, dtype=base.weight.dtype,
                                          device=base.weight.device))

    def forward(self, x):
        y = self.base(x)
        return y + self.scale * (x @ self.A.t() @ self.B.t()) if self.enabled else y


def llama(device: str):
    """A randomly initialised TinyLlama-1.1B-shaped model in bf16."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632,
                      num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
                      max_position_embeddings=2048)
    return LlamaForCausalLM(cfg).to(device=device, dtype=torch.bfloat16)


def build(device: str):
    model = llama(device)
    model.requires_grad_(False)
    try:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=32, target_modules=[
            "q_proj", "v_proj"], task_type="CAUSAL_LM"))
        return model, model.disable_adapter, "peft"
    except ImportError:
        loras = []
        for layer in model.model.layers:
            for name in ("q_proj", "v_proj"):
                lora = LoRALinear(getattr(layer.self_attn, name))
                setattr(layer.self_attn, name, lora)
                loras.append(lora)

        class Disabled:
            def __enter__(self):
                for m in loras:
                    m.enabled = False

            def __exit__(self, *exc):
                for m in loras:
                    m.enabled = True
        return model, Disabled, "builtin"


def batch(device: str, n: int = 8, prompt: int = 48, answer: int = 24) -> dict:
    ids = torch.randint(10, 32000, (n, prompt + answer), device=device)
    labels = ids.clone()
    labels[:, :prompt] = -100
    part = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    return {k: {kk: v.clone() for kk, v in part.items()} for k in
            ("forget", "idk", "refuse", "retain")}


def timed_steps(loss_fn, params, n: int = 6) -> tuple[list[float], list[dict], float]:
    opt = torch.optim.AdamW(params, lr=1e-4)
    times, logs = [], []
    torch.cuda.reset_peak_memory_stats()
    for _ in range(n):
        torch.cuda.synchronize()
        t = time.perf_counter()
        loss, log = loss_fn()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
        logs.append(log)
    return times, logs, torch.cuda.max_memory_allocated() / 2**30


def measure_lora(device: str, method, data):
    """LoRA: the reference is the same network with adapters disabled (no second copy)."""
    model, disable, lora_impl = build(device)

    def policy(inputs):
        return model(**inputs).logits

    def reference(inputs):
        with disable():
            return model(**inputs).logits
    trainable = [p for p in model.parameters() if p.requires_grad]
    times, logs, mem = timed_steps(lambda: compute_loss(method, policy, reference, data),
                                   trainable)
    n_total = sum(p.numel() for p in model.parameters())
    return times, logs, mem, lora_impl, n_total, sum(p.numel() for p in trainable)


def main() -> None:
    if not torch.cuda.is_available():
        sys.exit("gpu-check: no CUDA device")
    device = "cuda"
    torch.manual_seed(0)
    method = parse_method("nauf_no_cda")  # refusal CE + KL(ref || theta) on retain answers
    data = batch(device)

    lora_times, lora_logs, lora_mem, lora_impl, n_total, n_lora = measure_lora(
        device, method, data)
    torch.cuda.empty_cache()

    # Baseline in the same run: full fine-tuning with a frozen copy as the reference (official).
    import copy

    base = llama(device)
    ref_model = copy.deepcopy(base).eval().requires_grad_(False)

    def full_loss():
        return compute_loss(method, lambda x: base(**x).logits,
                            lambda x: ref_model(**x).logits, data)
    full_times, _, full_mem = timed_steps(full_loss, list(base.parameters()))

    lora_step = statistics.median(lora_times[1:])
    full_step = statistics.median(full_times[1:])
    out = {
        "paper": "Learning to Refuse (NAUF/RETURN), COLING 2025",
        "metric": "median seconds per LoRA unlearning step (NAUF loss, bf16, 1.1B random Llama)",
        "value": lora_step,
        "baseline": "full fine-tuning step, frozen-copy reference (official setup), same run",
        "baseline_value": full_step,
        "config": "scripts/gpu_check.py (batch 8 x 72 tokens per part)", "seed": 0,
        "hardware": torch.cuda.get_device_name(0), "command": "make gpu-check",
        "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "lora": lora_impl,
        "params_total": n_total, "params_trainable_lora": n_lora,
        "peak_memory_gib_lora": lora_mem, "peak_memory_gib_full": full_mem,
        "first_step_seconds_lora": lora_times[0], "kl_at_step0": lora_logs[0].get("retain_loss"),
        "logs_lora": lora_logs,
    }
    print(json.dumps(out, indent=2))
    target = Path(os.environ.get("OUT", Path(__file__).resolve().parents[1] / "results"))
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / ".gpu_check.json.tmp"
    tmp.write_text(json.dumps(out, indent=2))
    tmp.replace(target / "gpu_check.json")


if __name__ == "__main__":
    main()
