"""CONTRIBUTING.md "Runs, checkpoints and configs": every implemented subproject refuses to re-run
into a run folder with a changed config, before any work, naming the key that differs and the two
ways out; the same command with `overwrite=true` goes through.

Each entry is (short training argv run from the subproject folder with the shared interpreter,
the out_dir override template, one override that changes a hyper-parameter). A new subproject is
held to the rule as soon as it is implemented: a missing entry fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import IMPLEMENTED, ROOT

REFUSAL_PHRASE = "was created with a different config"


@dataclass(frozen=True)
class ShortRun:
    argv: tuple[str, ...]  # after `python -m`
    out_dir_key: str  # Hydra key that sets the run folder
    changed: str  # `key=value` that changes the resolved config
    changed_key: str  # the dotted key the refusal must name


SHORT_RUNS: dict[str, ShortRun] = {
    "jakiro": ShortRun(
        argv=("jakiro.train", "experiment=smoke"),
        out_dir_key="out_dir", changed="train.lr=1e-3", changed_key="train.lr"),
    "kangaroo": ShortRun(
        argv=("kangaroo.train", "experiment=smoke"),
        out_dir_key="out_dir", changed="train.lr=0.002", changed_key="train.lr"),
    "double_rounding": ShortRun(
        argv=("double_rounding.train", "experiment=ci"),
        out_dir_key="out_dir", changed="train.lr=1e-3", changed_key="train.lr"),
    "ghostnetv3": ShortRun(
        argv=("ghostnetv3.train", "experiment=ci"),
        out_dir_key="out_dir", changed="optim.lr=0.1", changed_key="optim.lr"),
    "nauf_return": ShortRun(
        argv=("nauf_return.train", "data.n_persons=6", "data.forget_ratio=0.34", "data.n_bystanders=0",
              "data.lookalikes=false", "injection.epochs=5", "injection.check_from=99",
              "injection.biographies=false", "injection.filter=false", "trainer.max_steps=2",
              "method=nauf_gd", "eval.robustness=false"),
        out_dir_key="output_dir", changed="trainer.lr=0.05", changed_key="trainer.lr"),
    "probing_mia": ShortRun(
        argv=("probing_mia.train", "trainer.max_steps=2", "trainer.train_ref=false",
              "corpus.max_background=24", "corpus.n_members=8", "corpus.n_nonmembers=8",
              "corpus.n_pseudo_members=6", "corpus.n_pseudo_nonmembers=6", "model.vocab_size=300",
              "model.hidden=32", "model.layers=2", "model.heads=2", "model.intermediate=64",
              "model.max_length=64"),
        out_dir_key="out_dir", changed="trainer.lr=1e-4", changed_key="trainer.lr"),
    "diffusiondialog": ShortRun(
        argv=("diffusiondialog.train", "data.max_conversations=60", "trainer.steps=2",
              "trainer.batch_size=8", "trainer.save_every=2", "model.bart.d_model=32",
              "model.bart.encoder_ffn_dim=64", "model.bart.decoder_ffn_dim=64",
              "model.denoiser_layers=1", "data.vocab_size=300"),
        out_dir_key="trainer.output_dir", changed="trainer.lr=0.002", changed_key="trainer.lr"),
    "vsc_sam": ShortRun(
        argv=("vsc_sam.train", "experiment=tiny", "data.negatives_per_query=-1", "trainer.steps=3",
              "trainer.n_synthetic=16", "trainer.batch_size=4"),
        out_dir_key="output_dir", changed="trainer.lr=0.002", changed_key="trainer.lr"),
}


def run(name: str, spec: ShortRun, out_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", *spec.argv, f"{spec.out_dir_key}={out_dir}", *extra]
    return subprocess.run(argv, cwd=ROOT / name, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.parametrize("name", IMPLEMENTED)
def test_every_implemented_subproject_has_a_short_run(name: str) -> None:
    assert name in SHORT_RUNS, f"{name}: add its short training run to SHORT_RUNS"


@pytest.mark.parametrize("name", sorted(set(SHORT_RUNS) & set(IMPLEMENTED)))
def test_rerun_with_changed_config_is_refused(name: str, tmp_path: Path) -> None:
    spec = SHORT_RUNS[name]
    out_dir = tmp_path / "run"
    first = run(name, spec, out_dir)
    assert first.returncode == 0, f"{name}: first run failed\n{first.stdout[-3000:]}\n{first.stderr[-3000:]}"
    snapshot = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*"))

    refused = run(name, spec, out_dir, spec.changed)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, f"{name}: changed config was accepted\n{output[-3000:]}"
    assert REFUSAL_PHRASE in output, output[-3000:]
    assert spec.changed_key in output, f"{name}: refusal does not name {spec.changed_key}\n{output[-3000:]}"
    assert "overwrite=true" in output, output[-3000:]
    # Refused before any work: the folder is exactly as the first run left it.
    assert sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*")) == snapshot

    overwritten = run(name, spec, out_dir, spec.changed, "overwrite=true")
    assert overwritten.returncode == 0, f"{name}: overwrite=true failed\n{overwritten.stderr[-3000:]}"
