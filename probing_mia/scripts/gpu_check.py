"""One prepared check for a lent GPU (never run in CI): a random 1B-shaped Llama (TinyLlama-1.1B
shape), the paper's proxy step (whole pseudo-member batch, AdamW, bf16) and per-layer last-token
activation extraction through the same hooks as the CPU code. Timed; JSON to $OUT or
gpu-check-out/."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from probing_mia.activations import last_token_activations  # noqa: E402


class IdTokenizer:
    """Whitespace-number 'tokenizer' so the check needs no tokenizer files."""

    bos_token_id = 1
    pad_token_id = 0

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [int(t) for t in text.split()]}


def main() -> None:
    if not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device")
    device = torch.device("cuda")
    cfg = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632,
                      num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(device, torch.bfloat16)
    report = {"device": torch.cuda.get_device_name(), "params": sum(p.numel() for p in
                                                                    model.parameters())}
    ids = torch.randint(2, 32000, (50, 256), device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for step in range(2):  # the paper's schedule: 2 epochs x 1 batch = 2 optimizer steps
        torch.cuda.synchronize()
        start = time.time()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        report[f"proxy_step{step}_s"] = round(time.time() - start, 3)
        report[f"proxy_step{step}_loss"] = float(loss)
    optimizer = None
    torch.cuda.empty_cache()

    class OnDevice(torch.nn.Module):  # move the CPU-built batches onto the GPU
        def __init__(self, inner):
            super().__init__()
            self.model = inner.model
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids.to(device),
                              attention_mask=attention_mask.to(device))

    texts = [" ".join(str(int(t)) for t in row[:200]) for row in ids.cpu()]
    torch.cuda.synchronize()
    start = time.time()
    acts = last_token_activations(OnDevice(model), IdTokenizer(), texts, 256, batch_size=25)
    torch.cuda.synchronize()
    report.update(activations_s=round(time.time() - start, 3), activations_shape=list(acts.shape),
                  peak_memory_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2))
    out = Path(os.environ.get("OUT", "gpu-check-out"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
