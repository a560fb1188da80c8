"""make gpu-check: one ImageNet-shaped ResNet-18 {8,6,4,2} multi-precision training step per
bit-width on CUDA, with the time of each precision pass (CUDA events), plus the int8 export
bit-identity check on the GPU. Self-contained: imports the package from ../src, needs only torch
and torchvision (no Hydra, no pins), prints one JSON line and writes it to $OUT if set."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from double_rounding.alrs import ALRS  # noqa: E402
from double_rounding.convert import calibrate, quant_layers, set_precision  # noqa: E402
from double_rounding.models import load_model  # noqa: E402
from double_rounding.rounding import second_round_int  # noqa: E402
from double_rounding.trainer import MultiPrecisionTrainer  # noqa: E402

BITS = [8, 6, 4, 2]


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("gpu-check needs a CUDA device (torch.cuda.is_available() is False)")
    dev = torch.device("cuda")
    torch.manual_seed(0)
    batch = int(os.environ.get("DR_GPU_BATCH", "64"))
    model = load_model("resnet18", BITS, num_classes=1000).to(dev)
    x = torch.randn(batch, 3, 224, 224, device=dev)
    y = torch.randint(0, 1000, (batch,), device=dev)
    calibrate(model, x, BITS)
    trainer = MultiPrecisionTrainer(model, BITS, 5e-4, 5e-5, ALRS("clamped", 8), 100)
    trainer.train_step(x, y)  # warm-up (cuDNN autotuning, allocator)
    pass_ms = {}
    for b in BITS:  # one precision pass = forward + backward + both optimizer steps
        set_precision(model, b)
        times = []
        for _ in range(5):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            F.cross_entropy(model(x), y).backward()
            trainer.opt_weights.step()
            trainer.opt_scales.step()
            trainer.opt_weights.zero_grad(set_to_none=True)
            trainer.opt_scales.zero_grad(set_to_none=True)
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        pass_ms[str(b)] = sorted(times)[len(times) // 2]
    t0 = time.time()
    stats = trainer.train_step(x, y)
    torch.cuda.synchronize()
    identical = True
    for _, layer in quant_layers(model):  # integer path on the stored int8 == float path
        q8 = layer.wq.stored_int8(layer.weight)
        for b in BITS:
            identical &= torch.equal(second_round_int(q8, 8, b, "half_up"),
                                     layer.integer_weight(b))
    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "batch": batch,
           "median_pass_ms": pass_ms, "full_step_s": round(time.time() - t0, 3),
           "losses": {k: v for k, v in stats.items() if k.startswith("loss")},
           "int8_shift_path_identical": bool(identical),
           "max_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)}
    print(json.dumps(out))
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_check.json").write_text(json.dumps(out, indent=2))
    if not identical:
        raise SystemExit("int8 shift path differs from the training path on GPU")


if __name__ == "__main__":
    main()
