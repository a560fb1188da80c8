"""`make gpu-check` (lent GPU only, never CI): a few training steps of GhostNetV3 1.0x at 224 px
with bf16 autocast + channels_last, then inference throughput of the fused vs multi-branch model.
Writes one JSON (default gpu-check-out/gpu_check.json)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ghostnetv3.models import load_model
from ghostnetv3.reparam import reparameterize_model


def throughput(model: torch.nn.Module, x: torch.Tensor, iters: int) -> float:
    with torch.no_grad(), torch.autocast("cuda", torch.bfloat16):
        for _ in range(5):
            model(x)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(iters):
            model(x)
        torch.cuda.synchronize()
    return iters * x.shape[0] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("gpu-check-out/gpu_check.json"))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu-check needs a CUDA device")
    torch.manual_seed(0)
    model = load_model("ghostnetv3", 1.0).cuda().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = torch.randn(args.batch, 3, 224, 224, device="cuda").contiguous(
        memory_format=torch.channels_last)
    y = torch.randint(1000, (args.batch,), device="cuda")
    losses = []
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(args.steps):
        with torch.autocast("cuda", torch.bfloat16):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    torch.cuda.synchronize()
    train_ips = args.steps * args.batch / (time.perf_counter() - start)
    model.eval()
    multi = throughput(model, x, 20)
    fused_model = reparameterize_model(model)
    fused = throughput(fused_model, x, 20)
    result = {"device": torch.cuda.get_device_name(), "batch": args.batch, "losses": losses,
              "loss_finite": all(v == v for v in losses), "train_images_per_s": train_ips,
              "infer_multibranch_images_per_s": multi, "infer_fused_images_per_s": fused,
              "fused_speedup": fused / multi, "torch": torch.__version__}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
