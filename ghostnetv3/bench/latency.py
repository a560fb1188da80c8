"""CPU latency at batch 1, 224 px, fixed threads (`make bench-latency`; run it on an IDLE machine):
fused GhostNetV3 vs its multi-branch form vs timm's GhostNetV2 and MobileNetV3 at similar MACs,
in torch and onnxruntime. Median and inter-quartile range over --iters runs after --warmup."""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from common import PAPER, ROOT, command, write_json

from ghostnetv3.export import onnxruntime_session
from ghostnetv3.models import load_model
from ghostnetv3.reparam import reparameterize_model

TIMM_PEERS = {1.0: ("ghostnetv2_100", "mobilenetv3_large_100"), 1.3: ("ghostnetv2_130",),
              1.6: ("ghostnetv2_160",)}


def timed(fn, x, warmup: int, iters: int) -> dict[str, float]:
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - start) * 1e3)
    q = statistics.quantiles(times, n=4)
    return {"median_ms": statistics.median(times), "q1_ms": q[0], "q3_ms": q[2]}


def models(width: float) -> dict[str, torch.nn.Module]:
    out = {"ghostnetv3_fused": reparameterize_model(load_model("ghostnetv3", width).eval()),
           "ghostnetv3_multibranch": load_model("ghostnetv3", width).eval()}
    try:
        import timm

        for name in TIMM_PEERS.get(width, ()):
            out[f"timm_{name}"] = timm.create_model(name, pretrained=False).eval()
    except ImportError:
        pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--widths", nargs="+", type=float, default=[1.0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench_latency.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.randn(1, 3, 224, 224)
    rows = []
    for width in args.widths:
        for name, model in models(width).items():
            with torch.no_grad():
                row = {"width": width, "model": name, "runtime": "torch",
                       **timed(model, x, args.warmup, args.iters)}
            rows.append(row)
            if name != "ghostnetv3_multibranch":
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / "m.onnx"
                    torch.onnx.export(model, (x,), str(path), input_names=["images"],
                                      output_names=["logits"], opset_version=17, dynamo=False)
                    session = onnxruntime_session(path, args.threads)
                    rows.append({"width": width, "model": name, "runtime": "onnxruntime",
                                 **timed(lambda t, s=session: s.run(None, {"images": t.numpy()}),
                                         x, args.warmup, args.iters)})
            print(rows[-1])
    fused = next(r for r in rows if r["model"] == "ghostnetv3_fused" and r["runtime"] == "torch")
    peer = next((r for r in rows if r["model"].startswith("timm_ghostnetv2")
                 and r["runtime"] == "torch" and r["width"] == fused["width"]), None)
    write_json(args.out, {
        "paper": PAPER, "metric": f"torch CPU latency, batch 1, 224 px, fused GhostNetV3 "
                                  f"{fused['width']}x (median ms)",
        "value": fused["median_ms"], "baseline": "timm GhostNetV2 of the same width",
        "baseline_value": None if peer is None else peer["median_ms"],
        "note": "valid only when the machine was idle during the run",
        "rows": rows, "config": vars(args) | {"out": str(args.out)}, "seed": 0,
        "hardware": f"{platform.processor() or platform.machine()}, {args.threads} thread(s)",
        "command": command(), "date": datetime.now(UTC).strftime("%Y-%m-%d")})


if __name__ == "__main__":
    main()
