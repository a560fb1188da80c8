"""Deploy cost per width (`make bench-cost`): parameters and MACs of the fused GhostNetV3 at 224 px,
equal to the plain (GhostNetV2-topology) model's, against the paper's counts and timm's
GhostNetV2 (when timm is installed). Counting convention in src/ghostnetv3/cost.py."""

from __future__ import annotations

import platform
from datetime import UTC, datetime

import torch
from common import PAPER, ROOT, command, write_json

from ghostnetv3.cost import count_macs, deploy_param_count, same_graph, train_param_count
from ghostnetv3.models import load_model
from ghostnetv3.reparam import reparameterize_model

PAPER_COUNTS = {0.5: (2.7e6, 48e6), 1.0: (6.1e6, 167e6), 1.3: (8.9e6, 269e6), 1.6: (12.3e6, 400e6)}
TIMM_V2 = {1.0: "ghostnetv2_100", 1.3: "ghostnetv2_130", 1.6: "ghostnetv2_160"}


def main() -> None:
    torch.set_num_threads(1)
    rows = []
    shape = (1, 3, 224, 224)
    try:
        import timm
    except ImportError:
        timm = None
    for width, (paper_params, paper_macs) in PAPER_COUNTS.items():
        fused = reparameterize_model(load_model("ghostnetv3", width).eval())
        plain = reparameterize_model(load_model("ghostnetv3", width, reparam=False).eval())
        row = {"width": width, "deploy_params": deploy_param_count(fused),
               "deploy_macs": count_macs(fused, shape),
               "train_params": train_param_count(load_model("ghostnetv3", width)),
               "plain_deploy_params": deploy_param_count(plain),
               "plain_deploy_macs": count_macs(plain, shape),
               "same_graph_as_plain": same_graph(fused, plain),
               "paper_params": paper_params, "paper_macs": paper_macs}
        row["params_vs_paper"] = row["deploy_params"] / paper_params - 1
        row["macs_vs_paper"] = row["deploy_macs"] / paper_macs - 1
        if timm is not None and width in TIMM_V2:
            v2 = timm.create_model(TIMM_V2[width], pretrained=False).eval()
            row["timm_ghostnetv2_params"] = deploy_param_count(v2)
            row["timm_ghostnetv2_macs"] = count_macs(v2, shape)
        rows.append(row)
        print(f"{width}x: {row['deploy_params'] / 1e6:.3f} M params ({row['params_vs_paper']:+.1%} vs "
              f"paper), {row['deploy_macs'] / 1e6:.1f} M MACs ({row['macs_vs_paper']:+.1%})")
    one = next(r for r in rows if r["width"] == 1.0)
    write_json(ROOT / "results" / "bench_cost.json", {
        "paper": PAPER,
        "metric": "deploy parameters of the fused GhostNetV3 1.0x (conv/linear weights+biases, "
                  "one per BN channel)",
        "value": one["deploy_params"], "baseline": "paper's 1.0x count", "baseline_value": 6.1e6,
        "widths": rows, "input": list(shape), "config": "models at 1000 classes, 3 channels",
        "seed": 0, "hardware": f"{platform.machine()} CPU (counts are hardware-independent)",
        "command": command(), "date": datetime.now(UTC).strftime("%Y-%m-%d")})


if __name__ == "__main__":
    main()
