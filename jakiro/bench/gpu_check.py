"""GPU check for a lent H100/H200 (never run in CI): run with `make gpu-check`.

1. CUDA-path greedy equivalence in fp32: every drafter (vanilla, scripted oracle / always
   wrong, random-weight EAGLE-2, Jakiro, Jakiro*) must reproduce cache-free greedy decoding.
2. Target latency curve t(n) in bf16 for a randomly initialised 1B-class Llama config
   (random weights: latency only), with CUDA synchronisation around each forward.
Needs only torch and numpy (imports jakiro from ../src). Writes $OUT/gpu_check.json if OUT is
set, else results/gpu_check.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from jakiro.assets import random_llama  # noqa: E402
from jakiro.decode import DecodeConfig, generate  # noqa: E402
from jakiro.draft_head import DraftHead, HeadConfig  # noqa: E402
from jakiro.drafters import Drafter, HeadDrafter, ScriptedDrafter, TreeConfig  # noqa: E402
from jakiro.latency import latency_curve  # noqa: E402
from jakiro.llama import LlamaConfig  # noqa: E402


@torch.no_grad()
def reference(model, prompt: torch.Tensor, n: int) -> list[int]:  # noqa: ANN001
    seq = prompt.tolist()
    for _ in range(n):
        _, logits = model(torch.tensor([seq], device=prompt.device))
        seq.append(int(logits[0, -1].argmax()))
    return seq[prompt.numel():]


def equivalence(dev: str) -> dict:
    cfg = LlamaConfig(vocab_size=2000, hidden_size=256, intermediate_size=512,
                      num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2)
    model = random_llama(cfg, seed=0, std=0.05).to(dev)
    out = {}
    for seed in range(3):
        prompt = torch.randint(0, cfg.vocab_size, (12,), generator=torch.Generator().manual_seed(
            seed)).to(dev)
        ref = reference(model, prompt, 48)
        full = prompt.tolist() + ref
        dc = DecodeConfig(48, 512)
        drafters = {
            "vanilla": (Drafter(), 1),
            "oracle": (ScriptedDrafter(full, cfg.vocab_size, 5, 3), 20),
            "always_wrong": (ScriptedDrafter(full, cfg.vocab_size, 5, 3, "wrong"), 20),
        }
        for name, kind, tree in [
            ("eagle2", "eagle", TreeConfig(8, 5, 40, hybrid=False)),
            ("jakiro", "jakiro", TreeConfig(8, 5, 40, hybrid=True)),
            ("jakiro_star", "jakiro", TreeConfig(8, 5, 40, hybrid=False, candidates="per_expert")),
        ]:
            torch.manual_seed(seed)
            head = DraftHead(cfg, HeadConfig(kind=kind)).to(dev).eval()
            drafters[name] = (HeadDrafter(head, model, tree, 512), tree.total_token)
        for name, (d, budget) in drafters.items():
            res = generate(model, d, prompt, dc, budget)
            out.setdefault(name, []).append({"identical": res.tokens == ref, "tau": res.tau})
    return out


def main() -> None:
    if not torch.cuda.is_available():
        sys.exit("gpu-check: no CUDA device")
    dev = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 equality check must be true fp32
    torch.backends.cudnn.allow_tf32 = False
    t0 = time.time()
    eq = equivalence(dev)
    one_b = LlamaConfig(vocab_size=128256, hidden_size=2048, intermediate_size=8192,
                        num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                        rope_theta=500000.0)
    model = random_llama(one_b, seed=0, std=0.02).to(dev, torch.bfloat16)
    curve = latency_curve(model, [1, 2, 4, 8, 16, 32, 48, 64, 96, 128], cache_len=512, reps=20,
                          warmup=3, sync=torch.cuda.synchronize)
    result = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "equivalence_fp32": eq,
        "all_identical": all(r["identical"] for v in eq.values() for r in v),
        "latency_ms_bf16_1b_random_weights": curve,
        "params_1b": sum(p.numel() for p in model.parameters()),
        "seconds": time.time() - t0,
    }
    out = Path(os.environ.get("OUT", Path(__file__).resolve().parents[1] / "results"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
