"""Issue 15: a run folder is a contract (re-run refusal, recorded config = real config, resume
from a verified unit, typos / wrong types / out-of-range values rejected before any work,
loading errors that name the file)."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir

from double_rounding import pipeline
from double_rounding.checkpoint import CheckpointError, latest_unit
from double_rounding.data import read_idx
from double_rounding.pipeline import run_training
from double_rounding.schema import ConfigError, parse_train

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = str(ROOT / "configs")


def cfg_for(overrides, name="train"):
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        return compose(config_name=name, overrides=["experiment=ci", *overrides])


def test_rerun_with_changed_config_is_refused_before_any_work(tmp_path):
    out = f"out_dir={tmp_path}"
    first = run_training(cfg_for([out]))
    snapshot = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(ConfigError) as err:
        run_training(cfg_for([out, "train.lr=1e-3", "quant.rule=floor"]))
    message = str(err.value)
    assert "was created with a different config" in message
    assert "train.lr: 0.0005 -> 0.001" in message and "quant.rule: 'half_up' -> 'floor'" in message
    assert "out_dir" in message and "overwrite=true" in message
    # nothing in the folder was touched
    assert snapshot == {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    # same config: the finished result is reported, not retrained
    again = run_training(cfg_for([out]))
    assert again["finished_before"] and again["accuracy"] == first["accuracy"]
    # overwrite=true wipes and retrains with the new config, which is then the recorded one
    fresh = run_training(cfg_for([out, "train.lr=1e-3", "overwrite=true"]))
    assert "finished_before" not in fresh
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["train"]["lr"] == 1e-3


def test_refusal_from_the_command_line_is_one_message_and_nonzero_exit(tmp_path):
    run_training(cfg_for([f"out_dir={tmp_path}"]))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "double_rounding.train", "experiment=ci",
                           f"out_dir={tmp_path}", "train.lr=1e-3"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode != 0
    assert proc.stderr.count("was created with a different config") == 1
    assert "Traceback" not in proc.stderr


def test_recorded_config_is_the_config_that_ran(tmp_path):
    cfg = cfg_for([f"out_dir={tmp_path}", "train.lr=2e-3", "quant.bits=[8,6]", "log_every=1"])
    result = run_training(cfg)
    recorded = yaml.safe_load((tmp_path / "config.yaml").read_text())
    expected = {k: v for k, v in json.loads(json.dumps(
        pipeline.as_dict(parse_train(cfg)))).items()
        if k not in ("overwrite", "resume", "progress", "threads")}
    assert recorded == expected
    assert (tmp_path / "config_hash").read_text().strip() == result["config_hash"]
    # what ran: the bit list and the learning rate of the first logged step (cosine, step 1)
    assert set(result["accuracy"]) == {str(b) for b in recorded["quant"]["bits"]}
    first = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert first["step"] == 1 and first["lr"] == pytest.approx(recorded["train"]["lr"])


def test_crash_then_resume_equals_uninterrupted_run(tmp_path, monkeypatch):
    base = ["train.epochs=2", "log_every=1"]
    ref = run_training(cfg_for([f"out_dir={tmp_path / 'ref'}", *base]))
    real_step = pipeline.MultiPrecisionTrainer.train_step

    def crash_in_epoch_two(self, x, y):
        if self.epoch == 1 and self.step_count == 5:  # after the epoch-1 checkpoint
            raise KeyboardInterrupt
        return real_step(self, x, y)

    monkeypatch.setattr(pipeline.MultiPrecisionTrainer, "train_step", crash_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg_for([f"out_dir={tmp_path / 'run'}", *base]))
    assert latest_unit(tmp_path / "run" / "checkpoints").name == "step-000000004"
    monkeypatch.setattr(pipeline.MultiPrecisionTrainer, "train_step", real_step)
    resumed = run_training(cfg_for([f"out_dir={tmp_path / 'run'}", *base]))
    assert resumed["param_checksum"] == ref["param_checksum"]
    assert resumed["accuracy"] == ref["accuracy"] and resumed["alrs"] == ref["alrs"]
    steps = [json.loads(line)["step"]
             for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))  # no duplicated or missing metric lines


def test_torn_checkpoint_in_a_run_folder_is_refused(tmp_path):
    run_training(cfg_for([f"out_dir={tmp_path}"]))
    (tmp_path / "result.json").unlink()  # as if killed before the end
    unit = latest_unit(tmp_path / "checkpoints")
    meta = json.loads((unit / "meta.json").read_text())
    meta["step"] = 1  # a step counter from another save beside these weights
    (unit / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not match the SHA-256"):
        run_training(cfg_for([f"out_dir={tmp_path}"]))
    (unit / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="incomplete: manifest.json is missing"):
        run_training(cfg_for([f"out_dir={tmp_path}"]))
    with pytest.raises(ConfigError, match="resume=false, but .* holds a checkpoint"):
        run_training(cfg_for([f"out_dir={tmp_path}", "resume=false"]))


@pytest.mark.parametrize("override,key", [
    ("+typo=1", "'typo'"), ("+train.typo=1", "'train.typo'"), ("+model.depth=3", "'model.depth'"),
    ("+data.shuffle=true", "'data.shuffle'"), ("+quant.bitz=[4]", "'quant.bitz'"),
    ("+hasb.sigma=0.5", "'hasb.sigma'")])
def test_unknown_keys_rejected_in_every_section(tmp_path, override, key):
    with pytest.raises(ConfigError, match=f"unknown config key.*{key}"):
        run_training(cfg_for([f"out_dir={tmp_path / 'run'}", override]))
    assert not (tmp_path / "run").exists()  # refused before any work


@pytest.mark.parametrize("override,match", [
    ("log_every=0", "log_every must be >= 1, got 0"),
    ("train.epochs=0", "train.epochs must be >= 1"),
    ("train.batch_size=-4", "train.batch_size must be >= 1"),
    ("train.lr=0", "train.lr must be > 0"),
    ("train.weight_decay=-1e-4", "train.weight_decay must be >= 0"),
    ("hasb.sigma0=1.5", "hasb.sigma0 must be <= 1"),
    ("hasb.trace_samples=0", "hasb.trace_samples must be >= 1"),
    ("data.train_limit=0", "data.train_limit must be >= 1"),
    ("train.epochs=two", "train.epochs must be of type int, got 'two'"),
    ("overwrite=maybe", "overwrite must be of type bool"),
    ("train.alrs=sometimes", "train.alrs must be one of"),
    ("quant.bits=[]", "quant.bits must be a non-empty list"),
    ("quant.bits=[8,9]", "quant.bits entries must be integers in"),
    ("quant.act_signed=maybe", "quant.act_signed must be true, false or 'auto'"),
    ("model.arch=vgg", "model.arch must be one of"),
])
def test_wrong_types_and_ranges_rejected_before_any_work(tmp_path, override, match):
    with pytest.raises(ConfigError, match=match):
        run_training(cfg_for([f"out_dir={tmp_path / 'run'}", override]))
    assert not (tmp_path / "run").exists()


def test_eval_schema_rejects_typos(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key.*'eval_bitz'"):
        pipeline.run_eval(cfg_for([f"out_dir={tmp_path}", "+eval_bitz=[4]"], name="eval"))


def test_damaged_recorded_config_names_the_file(tmp_path):
    run_training(cfg_for([f"out_dir={tmp_path}"]))
    (tmp_path / "config.yaml").write_text("model: {arch: resnet20\n")
    with pytest.raises(ConfigError, match=r"config\.yaml is not valid YAML.*overwrite=true"):
        run_training(cfg_for([f"out_dir={tmp_path}"]))


def test_folder_without_recorded_config_is_not_reused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds files but no config.yaml"):
        run_training(cfg_for([f"out_dir={tmp_path}"]))


def test_truncated_data_file_message(tmp_path):
    images = torch.zeros(3, 28, 28, dtype=torch.uint8).numpy().tobytes()
    good = bytes([0, 0, 8, 3]) + (3).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + images
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(good[:-100])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: header says \(3, 28, 28\) "
                                         r".*truncated.*data\.root"):
        read_idx(path)
    gz = tmp_path / "t.gz"
    gz.write_bytes(gzip.compress(good)[:-20])
    with pytest.raises(ValueError, match=r"t\.gz: cannot be read .*reinstall"):
        read_idx(gz)
