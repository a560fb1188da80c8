"""`make demo`: plain training vs the full GhostNetV3 strategy (re-param + KD + EMA) on the
embedded default (experiment=tiny), same seed, same epochs, same deploy graph; scores the fused
models; writes results/demo.json (+ results/raw/demo_predictions.json with the raw predictions)."""

from __future__ import annotations

import argparse
import json
import platform
from datetime import UTC, datetime
from pathlib import Path

import torch
from common import PAPER, ROOT, arm_overrides, command, train, write_json


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "demo")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "demo.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = ["experiment=tiny", f"seed={args.seed}", "progress=false"]
    # the teacher: the plain 0.5x trained twice as long (no pretrained weights exist offline)
    teacher_dir = args.runs / "teacher"
    teacher = train(teacher_dir, [*base, "model.reparam=false", "optim.epochs=16"])
    plain = train(args.runs / "plain", [*base, *arm_overrides("plain", None)])
    full = train(args.runs / "full", [*base, *arm_overrides("full", teacher_dir)])
    assert plain["deploy_params"] == full["deploy_params"], "deploy graphs differ"
    keep = ("test_top1_fused", "test_top1_multibranch", "fused_vs_multibranch_max_rel",
            "best_val_top1", "deploy_params", "train_params", "deploy_macs", "train_seconds",
            "config_hash", "evaluated")
    runs = {name: {k: r[k] for k in keep} for name, r in
            (("teacher", teacher), ("plain", plain), ("full", full))}
    result = {
        "paper": PAPER,
        "metric": "Fashion-MNIST test top-1 of the fused GhostNetV3 0.5x (5000 test images; "
                  "1000 training images at 48 px, 8 epochs)",
        "value": full["test_top1_fused"],
        "baseline": "plain training (GhostNetV2 topology, no KD, no EMA), same seed, epochs and "
                    "deploy graph",
        "baseline_value": plain["test_top1_fused"],
        "difference": full["test_top1_fused"] - plain["test_top1_fused"],
        "note": "one seed: not a significance test (see make bench for the paired-seed study)",
        "teacher": "plain GhostNetV3 0.5x trained 16 epochs on the same 1000 images",
        "runs": runs,
        "config": "experiment=tiny; full: " + " ".join(arm_overrides("full", teacher_dir)),
        "resolved_config": full["config"],
        "seed": args.seed,
        "hardware": f"{platform.machine()} CPU, {torch.get_num_threads()} torch thread(s), "
                    f"shared with other jobs",
        "command": f"make demo ({command()})",
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }
    preds = {name: json.loads((args.runs / name / "test_predictions.json").read_text())
             for name in ("plain", "full")}
    raw = args.out.parent / "raw"  # raw outputs beside the results (not results-schema files)
    raw.mkdir(parents=True, exist_ok=True)
    write_json(raw / "demo_predictions.json",
               {"labels": preds["plain"]["labels"],
                **{f"{k}_fused_argmax": v["fused_argmax"] for k, v in preds.items()}})
    write_json(args.out, result)
    print(json.dumps({k: result[k] for k in ("value", "baseline_value", "difference")}, indent=2))


if __name__ == "__main__":
    main()
