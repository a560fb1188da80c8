"""One short prepared script for a lent GPU (`make gpu-check`), ~2 minutes:

1. CUDA greedy equivalence in fp32: chain and tree, random adapter and no-adapter drafters, on
   random tiny Llama targets -> identical to vanilla (prints per case).
2. bf16 t(n) on a random 7B-shaped Llama (32 layers, d 4096, 32 heads, vocab 32000): the full
   model and the verification block [2, 32), n = 1..64 new tokens on a 300-token cache.
Writes gpu-check-out/gpu_check.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kangaroo.adapter import AdapterSpec, init_adapter  # noqa: E402
from kangaroo.assets import random_llama, tiny_config  # noqa: E402
from kangaroo.decode import generate  # noqa: E402
from kangaroo.drafters import AdapterDrafter, EarlyExitDrafter  # noqa: E402
from kangaroo.llama import LlamaConfig, LlamaLM  # noqa: E402
from kangaroo.schema import DecodeConfig  # noqa: E402


def timed_curve(model: LlamaLM, exit_layer: int, sizes: list[int]) -> dict:
    out = {"full": {}, "verify_block": {}}
    ids = torch.randint(0, model.cfg.vocab_size, (1, 300), device="cuda")
    for n in sizes:
        new = torch.randint(0, model.cfg.vocab_size, (1, n), device="cuda")
        pos = torch.arange(300, 300 + n, device="cuda")
        for key, start in (("full", 0), ("verify_block", exit_layer)):
            times = []
            for _ in range(6):
                cache = model.new_cache(320 + n)
                model(ids, cache)
                h = model.embed_tokens(new)
                if start:
                    h = model.run_layers(h, 0, start, pos, cache)
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                model.logits(model.run_layers(h, start, model.num_layers, pos, cache))
                b.record()
                torch.cuda.synchronize()
                times.append(a.elapsed_time(b))
            out[key][n] = round(sorted(times[1:])[2], 3)
    return out


@torch.no_grad()
def main() -> None:
    assert torch.cuda.is_available(), "gpu-check needs CUDA"
    report: dict = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                    "equivalence": []}
    for seed in range(3):
        model = random_llama(tiny_config(), seed=seed).cuda()
        prompt = torch.randint(0, 128, (8,), generator=torch.Generator().manual_seed(seed)).tolist()
        dc = DecodeConfig(gamma=4, eta=0.2, tree_top_k=3, tree_max_nodes=12, max_new_tokens=48)
        ref = generate(model, 2, None, prompt, dc).tokens
        spec = AdapterSpec.for_target(model, "t", 2)
        adapter = init_adapter(spec, model, seed).cuda().eval()
        for name, drafter in (("adapter", AdapterDrafter(adapter, model)),
                              ("no_adapter", EarlyExitDrafter(model))):
            for mode in ("chain", "tree"):
                g = generate(model, 2, drafter, prompt, dc, mode)
                case = {"seed": seed, "drafter": name, "mode": mode,
                        "identical": g.tokens == ref, "tau": round(g.tau, 3)}
                report["equivalence"].append(case)
                print(case, flush=True)
    cfg = LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008,
                      num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32)
    with torch.device("cuda"):
        big = LlamaLM(cfg).to(torch.bfloat16).eval()
    report["t_n_ms_bf16_7b_shape"] = timed_curve(big, 2, [1, 2, 4, 8, 16, 32, 64])
    print(json.dumps(report["t_n_ms_bf16_7b_shape"]), flush=True)
    out = ROOT / "gpu-check-out"
    out.mkdir(exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    assert all(c["identical"] for c in report["equivalence"]), "greedy mismatch on CUDA"


if __name__ == "__main__":
    main()
