"""Two-process torchrun (gloo on CPU) through the real entry point: ranks stay identical."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_two_process_gloo_training(tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                          "--master_port=29571", "-m", "ghostnetv3.train", "experiment=ci",
                          f"out_dir={out}", "optim.epochs=1", "optim.batch_size=8",
                          "ema.enabled=true"],
                         cwd=ROOT, capture_output=True, text=True, timeout=200, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert result["world_size"] == 2
    assert result["ranks_agree"] is True
    # 32 images / 2 ranks / batch 8 = 2 steps per rank
    assert result["steps"] == 2
    assert result["fused_vs_multibranch_max_rel"] < 1e-5
