"""The training entry point under torchrun: 2 CPU processes, gloo, DDP-synchronised weights."""

import os
import socket
import subprocess
import sys

from conftest import ROOT, TINY_OVERRIDES


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_gloo(tmp_path):
    overrides = [o for o in TINY_OVERRIDES if not o.startswith("injection.epochs")] + [
        f"output_dir={tmp_path}", "injection.enabled=false", "injection.filter=false",
        "method=npo_kl_minimization", "trainer.max_steps=2", "trainer.batch_size=4",
    ]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           f"--master_port={_free_port()}", "-m", "nauf_return.train", *overrides]
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    final = tmp_path / "npo_kl_minimization" / "final"
    digests = [(final / f"digest_rank{r}.txt").read_text() for r in (0, 1)]
    assert digests[0] == digests[1]  # gradients were all-reduced: both ranks hold one model
    assert (final / "model.safetensors").is_file()
    log = (tmp_path / "npo_kl_minimization" / "unlearn_metrics.jsonl").read_text().splitlines()
    assert len(log) == 2  # 2 optimizer steps, logged once (main process)
