"""Training: loss decreases, resume replays the uninterrupted run, 2-process gloo DDP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from jakiro.draft_head import HeadConfig
from jakiro.features import build_feature_store, load_feature_store
from jakiro.training import TrainConfig, train_head
from safetensors.torch import load_file

from tests.helpers import self_generated_samples


def _seqs(model, root: Path):  # noqa: ANN001, ANN202
    store = build_feature_store(model, self_generated_samples(model, 12, 20, seed=3), root, 8)
    return load_feature_store(store)[0]


def test_resume_equals_uninterrupted_and_loss_falls(tiny_target, tmp_path):
    seqs = _seqs(tiny_target, tmp_path / "f")
    vocab = torch.arange(96)
    base = dict(lr=2e-3, warmup_steps=2, epochs=10, batch_size=4, max_steps=8, noise_std=0.2,
                log_every=1, save_every=100)
    full = train_head(tiny_target, seqs, HeadConfig(kind="jakiro"), vocab, TrainConfig(**base),
                      tmp_path / "full", {})
    part = tmp_path / "part"
    train_head(tiny_target, seqs, HeadConfig(kind="jakiro"), vocab,
               TrainConfig(**base, stop_at=4), part, {})
    unit = part / "checkpoints" / "step_00000004"
    assert json.loads((unit / "state.json").read_text())["step"] == 4
    resumed = train_head(tiny_target, seqs, HeadConfig(kind="jakiro"), vocab,
                         TrainConfig(**base), part, {})
    assert resumed["steps"] == full["steps"] == 8
    a = load_file(str(tmp_path / "full" / "head" / "head.safetensors"))
    b = load_file(str(part / "head" / "head.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5)
    logs = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert logs[-1]["loss"] < logs[0]["loss"]


def test_two_process_gloo_ddp_step(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_port=29533", str(Path(__file__).parent / "ddp_worker.py"), str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=200,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 and r["backend"] == "gloo" for r in recs)
    # DDP keeps replicas identical after the optimizer steps.
    assert abs(recs[0]["checksum"] - recs[1]["checksum"]) < 1e-6
    assert (tmp_path / "run" / "head" / "head.safetensors").exists()
