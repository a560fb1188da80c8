"""GPU check for a lent H100/H200 (its own Python, torch and transformers; no pins needed).

bart-base-shaped random DiffusionDialog: one bf16 training step, DDIM-50 latent sampling and
greedy decoding time on CUDA. Needs only torch, numpy and transformers (for BartConfig); reads
nothing outside this subproject. Writes gpu_check.json to $OUT (or runs/) and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
from diffusiondialog.decoding import greedy  # noqa: E402
from diffusiondialog.model import DialogModel, ModelSpec  # noqa: E402

BART_BASE = dict(d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12,
                 decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072,
                 max_position_embeddings=1024, vocab_size=50265)


TINY = dict(BART_BASE, d_model=32, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=64,
            decoder_ffn_dim=64, encoder_attention_heads=4, decoder_attention_heads=4,
            vocab_size=300)


def median_time(fn, dev: torch.device, repeats: int = 5) -> float:
    """Median seconds of fn(); CUDA events on GPU, perf_counter on CPU (dry runs)."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def main(argv: list[str] | None = None) -> dict:
    args = argparse.ArgumentParser()
    args.add_argument("--device", default="cuda")
    args.add_argument("--tiny", action="store_true", help="small model (CPU dry run)")
    opts = args.parse_args(argv)
    if opts.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu-check: no CUDA device visible")
    torch.manual_seed(0)
    dev = torch.device(opts.device)
    shape = TINY if opts.tiny else BART_BASE
    d, vocab = shape["d_model"], shape["vocab_size"]
    model = DialogModel(ModelSpec(bart=shape, denoiser_layers=1 if opts.tiny else 6)).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    b, ls, lt = (2, 16, 8) if opts.tiny else (8, 256, 128)
    g = torch.Generator(device=dev).manual_seed(0)
    ids = torch.randint(4, vocab, (b, ls), device=dev, generator=g)
    resp = torch.randint(4, vocab, (b, lt), device=dev, generator=g)
    batch = {"context_ids": ids, "context_mask": torch.ones_like(ids),
             "roles": torch.ones_like(ids), "turns": torch.full_like(ids, 2),
             "decoder_input_ids": torch.cat([torch.full((b, 1), 2, device=dev), resp[:, :-1]], 1),
             "decoder_mask": torch.ones_like(resp), "labels": resp}

    def step():
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            loss = model(batch)["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        return loss

    model.train()
    loss = step()
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
    result = {"device": name, "torch": torch.__version__, "tiny": opts.tiny,
              "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
              "first_loss": loss.item(),
              f"train_step_s_bf16_b{b}_{ls}x{lt}": median_time(step, dev)}
    model.eval()
    kb = 4 if opts.tiny else 64
    with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16):
        enc = model.encode_context(ids[:1].expand(kb, -1), batch["context_mask"][:1].expand(kb, -1),
                                   batch["roles"][:1].expand(kb, -1),
                                   batch["turns"][:1].expand(kb, -1))
        mask = batch["context_mask"][:1].expand(kb, -1)
        x_T = torch.randn(kb, 1, d, device=dev, generator=g)
        for steps in (1, 10, 50):
            result[f"ddim{steps}_s_{kb}_latents"] = median_time(
                lambda s=steps: model.sample_latent(enc, mask, x_T, s), dev)
        z = model.sample_latent(enc, mask, x_T, 50)
        result[f"greedy32_s_{kb}_responses"] = median_time(
            lambda: greedy(model, enc, mask, z, max_len=32), dev, repeats=3)
    out = Path(os.environ.get("OUT") or ROOT / "runs") / "gpu_check.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
