"""Training: resume equals an uninterrupted run, a 2-process gloo DDP step equals one process on
the whole batch, checkpoints are verified units, and the run-folder contract holds end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import tiny_config
from helpers import greedy_corpus
from kangaroo.adapter import AdapterSpec, init_adapter
from kangaroo.assets import random_llama
from kangaroo.checkpoint import CheckpointError
from kangaroo.schema import TrainConfig
from kangaroo.training import target_features, train_adapter

ROOT = Path(__file__).resolve().parents[1]


def setup(steps: int = 6, batch: int = 2):  # noqa: ANN201
    model = random_llama(tiny_config(), seed=0)
    data = target_features(model, greedy_corpus(model, 6, 8, seed=2), 2)
    adapter = init_adapter(AdapterSpec.for_target(model, "t", 2), model, seed=0)
    tc = TrainConfig(lr=1e-2, warmup_steps=2, max_steps=steps, batch_size=batch, log_every=1,
                     save_every=1)
    return adapter, model.head_weight, data, tc


def test_resume_equals_uninterrupted(tmp_path: Path) -> None:
    a, head, data, tc = setup()
    train_adapter(a, head, data, tc, tmp_path / "full", "h", {})
    b, _, _, _ = setup()
    train_adapter(b, head, data, tc, tmp_path / "cut", "h", {}, stop_after=3)
    c, _, _, _ = setup()  # a fresh process would start from the same initial weights
    summary = train_adapter(c, head, data, tc, tmp_path / "cut", "h", {})
    assert summary["step"] == 6
    for k, v in a.state_dict().items():
        assert torch.equal(v, c.state_dict()[k]), k
    rows = [json.loads(r) for r in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    full = [json.loads(r) for r in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in rows] == [r["loss"] for r in full]


def test_ddp_two_process_step_equals_single_process(tmp_path: Path) -> None:
    one, head, data, tc = setup(steps=2, batch=2)
    tc_single = TrainConfig(**{**tc.__dict__, "batch_size": 4})  # 2 ranks x 2 = global 4
    train_adapter(one, head, data, tc_single, tmp_path / "single", "h", {})
    init = tmp_path / "init"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, str(Path(__file__).with_name("ddp_worker.py")),
                               str(r), "2", str(init), str(tmp_path)], env=env)
             for r in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    for k, v in one.state_dict().items():
        assert torch.equal(r0[k], r1[k]), k
        torch.testing.assert_close(r0[k], v, atol=1e-6, rtol=1e-5)


def test_torn_or_edited_checkpoint_is_refused(tmp_path: Path) -> None:
    a, head, data, tc = setup()
    train_adapter(a, head, data, tc, tmp_path / "run", "h", {}, stop_after=2)
    state = tmp_path / "run" / "state"
    blob = (state / "optimizer.safetensors").read_bytes()
    (state / "optimizer.safetensors").write_bytes(blob[: len(blob) // 2])
    b, _, _, _ = setup()
    with pytest.raises(CheckpointError, match="optimizer.safetensors: sha256 differs.*overwrite"):
        train_adapter(b, head, data, tc, tmp_path / "run", "h", {})
    (state / "optimizer.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing piece"):
        train_adapter(b, head, data, tc, tmp_path / "run", "h", {})
    (state / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="manifest.json: missing"):
        train_adapter(b, head, data, tc, tmp_path / "run", "h", {})
    with pytest.raises(CheckpointError, match="config hash"):  # a unit of another config
        train_adapter(b, head, data, tc, tmp_path / "run2", "h", {}, stop_after=1)
        train_adapter(b, head, data, tc, tmp_path / "run2", "other", {})


def cli(out_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "kangaroo.train", "experiment=smoke",
                           f"out_dir={out_dir}", *extra], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, env=env)


def test_run_folder_contract_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = cli(out)
    assert first.returncode == 0, first.stderr[-2000:]
    recorded = yaml.safe_load((out / "config.yaml").read_text())
    # The recorded config is the real one: the values the run used.
    assert recorded["train"]["max_steps"] == 4 and recorded["model"]["spec"] == "random-tiny"
    assert recorded["out_dir"] == str(out)
    assert json.loads((out / "summary.json").read_text())["step"] == 4
    snapshot = sorted(p.name for p in out.rglob("*"))
    again = cli(out)
    assert again.returncode == 0 and "finished earlier" in again.stdout
    refused = cli(out, "train.lr=0.002", "data.seed=1")
    assert refused.returncode == 2
    assert "was created with a different config" in refused.stderr
    assert "train.lr: 0.001 -> 0.002" in refused.stderr and "data.seed: 42 -> 1" in refused.stderr
    assert "new out_dir" in refused.stderr and "overwrite=true" in refused.stderr
    assert sorted(p.name for p in out.rglob("*")) == snapshot
    fresh = cli(out, "train.lr=0.002", "overwrite=true")
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["lr"] == 0.002


def compose(*overrides: str):  # noqa: ANN201
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(ROOT / "configs"), version_base="1.3"):
        return hydra_compose("train", ["experiment=smoke", *overrides])


@pytest.mark.parametrize(("override", "message"), [
    ("+typo=1", "'typo': unknown key"),
    ("+data.typo=1", "'data.typo': unknown key"),
    ("train.save_every=0", "'train.save_every': must be > 0"),
    ("train.log_every=0", "'train.log_every': must be > 0"),
    ("train.lr=abc", "'train.lr': expected a number"),
    ("decode.eta=2", "'decode.eta': must be in [0.0, 1.0]"),
])
def test_bad_config_rejected(override: str, message: str) -> None:
    from kangaroo.pipeline import resolved
    from kangaroo.schema import ConfigError, Root

    with pytest.raises(ConfigError) as err:
        resolved(compose(override), Root)
    assert message in str(err.value)


def test_resolved_smoke_config_is_valid() -> None:
    from kangaroo.pipeline import resolved
    from kangaroo.schema import Root

    plain, root = resolved(compose(), Root)
    assert root.train.max_steps == 4 and plain["name"] == "smoke"


@pytest.mark.parametrize(("override", "message"), [
    ("+train.typo=1", "'train.typo': unknown key"),
    ("model.exit_layer=4", "model.exit_layer=4: must satisfy 1 <= exit_layer < N"),
])
def test_bad_config_cli_exits_2_before_work(tmp_path: Path, override: str, message: str) -> None:
    res = cli(tmp_path / "run", override)
    assert res.returncode == 2 and message in res.stderr, res.stderr[-2000:]
    assert not (tmp_path / "run" / "state").exists()
