"""Entry points: Hydra train / eval in process, HASB mode, bad config, torchrun DDP (gloo)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from double_rounding.pipeline import run_eval, run_training

CONFIGS = str(Path(__file__).resolve().parents[1] / "configs")


def cfg_for(name, overrides):
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        return compose(config_name=name, overrides=["experiment=ci", *overrides])


def test_train_then_eval(tmp_path):
    run = f"out_dir={tmp_path}"
    result = run_training(cfg_for("train", [run]))
    assert set(result["accuracy"]) == {"8", "4"}
    assert result["export"]["ratio"] <= 0.26
    assert (tmp_path / "metrics.jsonl").read_text().count("\n") >= 1
    ev = run_eval(cfg_for("eval", [run]))
    assert ev["accuracy"] == result["accuracy"]  # the int8 shift path reproduces training
    # a finished run resumes to the end without training again
    again = run_training(cfg_for("train", [run]))
    assert again["steps"] == result["steps"] and again["accuracy"] == result["accuracy"]


def test_hasb_mode(tmp_path):
    result = run_training(cfg_for("train", [f"out_dir={tmp_path}", "train.mode=hasb",
                                            "quant.bits=[4,3,2]"]))
    assert set(result["accuracy"]) == {"4", "3", "2"}


@pytest.mark.parametrize("override,match", [("quant.bits=[8,9]", "quant.bits"),
                                            ("train.alrs=maybe", "train.alrs"),
                                            ("model.arch=vgg", "model.arch")])
def test_bad_config(tmp_path, override, match):
    with pytest.raises(ValueError, match=match):
        run_training(cfg_for("train", [f"out_dir={tmp_path}", override]))


def test_torchrun_two_process_ddp(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_port=29531", "-m", "double_rounding.train", "experiment=ci",
           f"out_dir={tmp_path}"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["world_size"] == 2 and result["ranks_agree"] is True
