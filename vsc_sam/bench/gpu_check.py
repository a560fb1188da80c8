"""GPU check for a lent CUDA machine (own Python and torch; needs only torch and numpy).

1. SAM-lite training steps on CUDA (fp32 and bf16 autocast): the loss must fall when
   over-fitting one fixed batch of copy-line targets.
2. Batched inference on CUDA equals CPU inference (fp32, max |diff| < 1e-3).
3. Tiled inference of a matrix larger than the tile, with timings.

Usage: python3 bench/gpu_check.py [--device cuda] [--out DIR]  (writes gpu_check.json to
DIR, default $OUT or runs/). It loads the model module from ../src by path, so the package does
not have to be installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
STEPS = 30  # over-fitting one batch: the per-pixel loss must fall below 80% of its start
SAM_NET = HERE.parent / "src" / "vsc_sam" / "localization" / "sam_net.py"


def load_sam_net():
    spec = importlib.util.spec_from_file_location("sam_net", SAM_NET)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def line_batch(n: int, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy matrices with one bright diagonal each, and the matching soft line targets."""
    x = torch.rand(n, 1, size, size, generator=generator) * 0.3
    t = torch.zeros(n, size, size)
    for k in range(n):
        start = int(torch.randint(0, size // 2, (1,), generator=generator))
        length = size // 3
        idx = torch.arange(start, start + length)
        x[k, 0, idx, idx] = 0.9
        t[k, idx, idx] = 1.0
    return x, t


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default=os.environ.get("OUT", "runs"))
    parser.add_argument("--smoke", action="store_true", help="tiny sizes to test on CPU")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available on this machine", file=sys.stderr)
        return 2
    sam = load_sam_net()
    report: dict = {"torch": torch.__version__, "device": str(device),
                    "device_name": torch.cuda.get_device_name() if device.type == "cuda" else "cpu"}
    gen = torch.Generator().manual_seed(0)
    batch, canvas, width = (4, 64, 8) if args.smoke else (32, 128, 32)
    x, t = line_batch(batch, canvas, gen)
    for mode in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = sam.SAMUNet(width=width, depth=4).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xd, td = x.to(device), t.to(device)
        losses = []
        synchronize(device)
        start = time.perf_counter()
        for _ in range(STEPS):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=mode == "bf16"):
                logits = model(xd)
            loss = sam.soft_cross_entropy_sum(logits.float(), td) / td.numel()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        synchronize(device)
        report[f"train_{mode}"] = {"first_loss": losses[0], "last_loss": losses[-1],
                                   "ms_per_step": 1000 * (time.perf_counter() - start) / STEPS,
                                   "loss_fell": losses[-1] < 0.8 * losses[0]}
    model = model.float().eval()
    sims = [torch.rand(canvas - 20 + 3 * k, canvas - 30 + 2 * k, generator=gen).numpy()
            for k in range(6)]
    gpu = sam.SAMPredictor(model, tile=canvas, overlap=canvas // 4, device=device)
    synchronize(device)
    start = time.perf_counter()
    out_gpu = gpu.batch(sims, canvas=canvas)
    synchronize(device)
    report["batch_ms"] = 1000 * (time.perf_counter() - start)
    cpu = sam.SAMPredictor(model.to("cpu"), tile=canvas, overlap=canvas // 4, device="cpu")
    out_cpu = cpu.batch(sims, canvas=canvas)
    diffs = [abs(a - b).max() for a, b in zip(out_gpu, out_cpu, strict=True)]
    report["batch_max_abs_diff_vs_cpu"] = float(max(diffs))
    gpu = sam.SAMPredictor(model.to(device), tile=canvas, overlap=canvas // 4, device=device)
    big = torch.rand(4 * canvas - 12, 3 * canvas + 16, generator=gen).numpy()
    start = time.perf_counter()
    heat = gpu(big)
    synchronize(device)
    report["tiled_ms"] = 1000 * (time.perf_counter() - start)
    report["tiled_shape"] = list(big.shape)
    report["tiled_shape_ok"] = heat.shape == big.shape
    ok = (report["train_fp32"]["loss_fell"] and report["train_bf16"]["loss_fell"]
          and report["batch_max_abs_diff_vs_cpu"] < 1e-3 and report["tiled_shape_ok"])
    report["ok"] = bool(ok)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "gpu_check.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
