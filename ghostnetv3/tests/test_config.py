"""Typed config schemas: unknown keys, wrong types, out-of-range values are refused by name."""

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import resolved

from ghostnetv3.config import ConfigError, parse_eval_config, parse_train_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("experiment", ["tiny", "ci", "paper"])
def test_shipped_experiments_parse(experiment):
    cfg = parse_train_config(resolved(f"experiment={experiment}"))
    assert cfg.experiment_name == experiment
    assert cfg.out_dir == f"runs/{experiment}"  # default folders carry the experiment name


@pytest.mark.parametrize("overrides,message", [
    (["+typo=1"], "unknown config key(s) typo at the top level"),
    (["+model.depth=3"], "unknown config key(s) model.depth"),
    (["+trainer.every=3"], "unknown config key(s) trainer.every"),
    (["trainer.eval_every=0"], "trainer.eval_every must be > 0"),
    (["trainer.checkpoint_every=0"], "trainer.checkpoint_every must be > 0"),
    (["trainer.log_every=-1"], "trainer.log_every must be > 0"),
    (["ema.every=0"], "ema.every must be > 0"),
    (["optim.epochs=0"], "optim.epochs must be > 0"),
    (["optim.warmup_epochs=-1"], "optim.warmup_epochs must be >= 0"),
    (["optim.warmup_epochs=20"], "optim.warmup_epochs 20.0 exceeds optim.epochs"),
    (["optim.lr=fast"], "optim.lr must be float, got 'fast'"),
    (["optim.batch_size=1.5"], "optim.batch_size must be int"),
    (["optim.name=adam"], "optim.name 'adam' is unknown"),
    (["model.width=0.7"], "model.width 0.7 is not a ghostnetv3 width"),
    (["model.arch=resnet50"], "model.arch 'resnet50' is unknown"),
    (["ema.decay=1.0"], "ema.decay must be in [0, 1)"),
    (["loss.temperature=0"], "loss.temperature must be > 0"),
    (["loss.kd_weight=1.0"], "loss.kd_weight > 0 needs teacher.source"),
    (["teacher.source=timm:resnet18"], "teacher.checkpoint must name the weights"),
    (["data.name=cifar"], "data.name 'cifar' is unknown"),
    (["data.train_limit=0"], "data.train_limit must be >= 1"),
    (["overwrite=maybe"], "overwrite must be bool"),
])
def test_bad_values_are_named(overrides, message):
    with pytest.raises(ConfigError) as err:
        parse_train_config(resolved("experiment=ci", *overrides))
    assert message in str(err.value)


def test_eval_config_checks():
    with pytest.raises(ConfigError, match="checkpoint must name"):
        parse_eval_config(resolved(name="eval"))
    with pytest.raises(ConfigError, match="split 'train' is unknown"):
        parse_eval_config(resolved("checkpoint=x", "split=train", name="eval"))


def test_cli_rejects_typo_before_any_work(tmp_path):
    out = tmp_path / "run"
    run = subprocess.run([sys.executable, "-m", "ghostnetv3.train", "experiment=ci",
                          f"out_dir={out}", "+optim.lr_typo=1"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2
    assert "unknown config key(s) optim.lr_typo" in run.stderr
    assert not out.exists()
