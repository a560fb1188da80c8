"""The run-folder contract: recorded config, refusal with named keys, overwrite, checkpoints as
one verified unit, resume equal to an uninterrupted run, finished runs reported."""

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from helpers import ci_config
from safetensors.torch import load_file

from ghostnetv3.checkpoint import CheckpointError, load_exported
from ghostnetv3.config import as_dict
from ghostnetv3.run_folder import RunFolderError, config_hash
from ghostnetv3.trainer import run_training

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "done"
    cfg = ci_config(out, "ema.enabled=true", "ema.decay=0.5")
    return out, cfg, run_training(cfg)


def test_recorded_config_equals_real_config(finished):
    out, cfg, result = finished
    assert yaml.safe_load((out / "config.yaml").read_text()) == as_dict(cfg)
    assert (out / "config_hash").read_text().strip() == config_hash(as_dict(cfg))
    assert result["config"] == as_dict(cfg) and result["config_hash"] == config_hash(as_dict(cfg))


def test_run_outputs(finished):
    out, cfg, result = finished
    rows = (out / "summary.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,step,loss") and len(rows) == 1 + cfg.optim.epochs
    assert any(json.loads(line).get("event") == "epoch"
               for line in (out / "metrics.jsonl").read_text().splitlines())
    for name in ("model_best", "model_ema", "model_fused"):
        assert (out / f"{name}.safetensors").is_file() and (out / f"{name}.json").is_file()
    assert sorted(p.name for p in (out / "checkpoint").iterdir()) == [
        "ema.safetensors", "manifest.json", "model.safetensors", "optimizer.safetensors",
        "rng.safetensors", "state.json"]
    # evaluation scores the fused EMA model; fused and multi-branch agree on the trained model
    assert result["evaluated"] == "ema"
    assert result["fused_vs_multibranch_max_rel"] < 1e-5
    fused = load_exported(out / "model_fused.safetensors")
    ema = load_exported(out / "model_ema.safetensors")
    x = torch.randn(2, 1, 33, 33)
    torch.testing.assert_close(fused(x), ema(x), rtol=1e-4, atol=1e-5)


def test_changed_config_refused_naming_keys(finished):
    out, _, _ = finished
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    with pytest.raises(RunFolderError) as err:
        run_training(ci_config(out, "ema.enabled=true", "ema.decay=0.5", "optim.lr=0.2",
                               "loss.label_smoothing=0.0"))
    text = str(err.value)
    assert "was created with a different config" in text
    assert "optim.lr: 0.05 -> 0.2" in text and "loss.label_smoothing: 0.1 -> 0.0" in text
    assert "overwrite=true" in text and "out_dir" in text
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before


def test_same_config_reports_the_finished_result(finished):
    out, cfg, result = finished
    again = run_training(cfg)
    assert again["test_top1_fused"] == result["test_top1_fused"]
    assert again["date"] == result["date"]  # read back, not re-trained


def test_overwrite_starts_fresh(tmp_path):
    out = tmp_path / "run"
    run_training(ci_config(out, "optim.epochs=1"))
    (out / "stray.txt").write_text("x")
    result = run_training(ci_config(out, "optim.epochs=1", "optim.lr=0.1", "overwrite=true"))
    assert not (out / "stray.txt").exists()
    assert yaml.safe_load((out / "config.yaml").read_text())["optim"]["lr"] == 0.1
    assert result["epochs"] == 1


def test_resume_equals_uninterrupted_run(tmp_path):
    # with EMA: its warm-up counter is restored from the step count
    straight = run_training(ci_config(tmp_path / "a", "ema.enabled=true"))
    interrupted = run_training(ci_config(tmp_path / "b", "ema.enabled=true"), stop_after_epochs=1)
    assert interrupted == {"interrupted_at_epoch": 1}
    state = json.loads((tmp_path / "b" / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 1 and state["step"] == 2
    resumed = run_training(ci_config(tmp_path / "b", "ema.enabled=true"))
    assert resumed["steps"] == straight["steps"]
    for part in ("model", "ema"):
        a = load_file(str(tmp_path / "a" / "checkpoint" / f"{part}.safetensors"))
        b = load_file(str(tmp_path / "b" / "checkpoint" / f"{part}.safetensors"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["test_top1_fused"] == straight["test_top1_fused"]
    rows = lambda run: [r.rsplit(",", 1)[0] for r in  # noqa: E731 - seconds column differs
                        (tmp_path / run / "summary.csv").read_text().splitlines()]
    assert rows("a") == rows("b")


def _interrupted_run(tmp_path):
    out = tmp_path / "run"
    cfg = ci_config(out)
    run_training(cfg, stop_after_epochs=1)
    return out, cfg


def test_torn_checkpoint_is_refused(tmp_path):
    out, cfg = _interrupted_run(tmp_path)
    (out / "checkpoint" / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="incomplete: manifest.json is missing.*overwrite=true"):
        run_training(cfg)


def test_edited_or_missing_piece_is_refused(tmp_path):
    out, cfg = _interrupted_run(tmp_path)
    opt = out / "checkpoint" / "optimizer.safetensors"
    opt.write_bytes(opt.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="optimizer.safetensors does not match its sha256"):
        run_training(cfg)
    opt.unlink()
    with pytest.raises(CheckpointError, match="is missing optimizer.safetensors"):
        run_training(cfg)


def test_interrupted_first_write_is_refused(tmp_path):
    out, cfg = _interrupted_run(tmp_path)
    shutil.move(out / "checkpoint", out / ".checkpoint.tmp123")
    with pytest.raises(CheckpointError, match="write was interrupted"):
        run_training(cfg)


def test_checkpoint_of_another_config_is_refused(tmp_path):
    out, cfg = _interrupted_run(tmp_path)
    state_path = out / "checkpoint" / "state.json"
    state = json.loads(state_path.read_text())
    state["config_hash"] = "0" * 16
    state_path.write_text(json.dumps(state))
    manifest = json.loads((out / "checkpoint" / "manifest.json").read_text())
    import hashlib
    manifest["state.json"] = hashlib.sha256(state_path.read_bytes()).hexdigest()
    (out / "checkpoint" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="was written by config 0000000000000000"):
        run_training(cfg)


def test_cli_refusal_exit_status_and_eval(finished):
    out, _, result = finished
    refused = subprocess.run([sys.executable, "-m", "ghostnetv3.train", "experiment=ci",
                              f"out_dir={out}", "seed=3"], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2
    assert "was created with a different config" in refused.stderr and "seed: 0 -> 3" in refused.stderr
    evaluated = subprocess.run([sys.executable, "-m", "ghostnetv3.eval", f"checkpoint={out}",
                                "data=synthetic", "data.test_limit=16"], cwd=ROOT,
                               capture_output=True, text=True, timeout=120)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads((out / "eval_test.json").read_text())["top1_fused"] == result["test_top1_fused"]


def test_kd_from_a_teacher_trained_here(finished, tmp_path):
    out, _, _ = finished
    result = run_training(ci_config(tmp_path / "kd", "optim.epochs=1", "loss.kd_weight=1.0",
                                    f"teacher.source={out}", "loss.temperature=2.0"))
    assert result["steps"] == 2
    logged = [json.loads(line) for line in (tmp_path / "kd" / "metrics.jsonl").read_text().splitlines()]
    assert any("kd" in r for r in logged)


def test_bad_teachers_are_named(finished, tmp_path):
    from ghostnetv3.config import ConfigError, TeacherConfig
    from ghostnetv3.teacher import load_teacher

    out, _, _ = finished
    with pytest.raises(ConfigError, match="predicts 4 classes from 1 channels; the student needs 10"):
        load_teacher(TeacherConfig(str(out)), 10, 1)
    with pytest.raises(ConfigError, match="teacher.source .*nowhere does not exist"):
        load_teacher(TeacherConfig(str(tmp_path / "nowhere")), 4, 1)
    pytest.importorskip("timm")
    with pytest.raises(ConfigError, match="timm has no model 'not_a_model'"):
        load_teacher(TeacherConfig("timm:not_a_model", "w.safetensors"), 4, 1)


def test_bf16_autocast_and_channels_last_options(tmp_path):
    result = run_training(ci_config(tmp_path / "bf16", "optim.epochs=1", "trainer.bf16=true",
                                    "trainer.channels_last=true", "optim.name=lamb"))
    losses = [json.loads(line)["loss"] for line in
              (tmp_path / "bf16" / "metrics.jsonl").read_text().splitlines()]
    assert result["steps"] == 2 and all(math.isfinite(v) for v in losses)
