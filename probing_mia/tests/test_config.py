"""The run-folder and config contract (issue 15): refusal of a different config, recorded ==
resolved config, typed sections, +typo / *_every=0 / wrong types rejected before any work."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from probing_mia import run_folder
from probing_mia.config import load, to_dict
from probing_mia.errors import ConfigError

from conftest import ROOT, SHORT, needs_arxivmia, typed


def test_refusal_lists_every_differing_key_and_both_ways_out(tmp_path):
    out = tmp_path / "run"
    run_folder.prepare(typed(SHORT), out)
    changed = typed(SHORT + ["trainer.lr=1e-4", "corpus.duplication=7"])
    with pytest.raises(ConfigError) as err:
        run_folder.prepare(changed, out)
    message = str(err.value)
    assert "was created with a different config" in message
    assert "trainer.lr: 0.003 -> 0.0001" in message
    assert "corpus.duplication: 2 -> 7" in message
    assert "out_dir" in message and "overwrite=true" in message
    # Same config: the folder is re-opened (resume); overwrite=true wipes and starts afresh.
    (out / "target").mkdir()
    assert run_folder.prepare(typed(SHORT), out) == out and (out / "target").exists()
    run_folder.prepare(typed(SHORT + ["trainer.lr=1e-4", "overwrite=true"]), out)
    assert not (out / "target").exists()


def test_recorded_config_is_the_resolved_config(tmp_path):
    cfg = typed(SHORT + ["seed=3"])
    out = run_folder.prepare(cfg, tmp_path / "run")
    recorded = yaml.safe_load((out / "config.yaml").read_text())
    expected = to_dict(cfg)
    for key in run_folder.NOT_HASHED:
        expected.pop(key)
    assert recorded == expected and recorded["seed"] == 3
    assert (out / "config_hash").read_text().strip() == run_folder.config_hash(cfg)
    assert run_folder.config_hash(load(recorded)) == run_folder.config_hash(cfg)


@pytest.mark.parametrize("override,message", [
    ("+typo=1", "Key 'typo' not in 'Config'"),
    ("+trainer.typo=1", "'trainer.typo'"),
    ("+probe.layerz=2", "'probe.layerz'"),
    ("trainer.save_every=0", "trainer.save_every: must be > 0"),
    ("trainer.log_every=-1", "trainer.log_every: must be > 0"),
    ("trainer.max_steps=0", "trainer.max_steps: must be > 0"),
    ("trainer.warmup_steps=-1", "trainer.warmup_steps: must be >= 0"),
    ("model.vocab_size=0", "model.vocab_size: must be > 0"),
    ("trainer.lr=abc", "'trainer.lr'"),
    ("corpus.duplication=1.5", "'corpus.duplication'"),
    ("attacks.names=[loss,bogus]", "attacks.names: unknown \\['bogus'\\]"),
    ("attacks.ks=[]", "attacks.ks: must not be empty"),
    ("probe.standardisation=[both]", "probe.standardisation"),
    ("proxy.schedule=fast", "proxy.schedule"),
    ("model.heads=3", "divisible"),
])
def test_bad_config_is_rejected_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        typed([override])


@needs_arxivmia
def test_cli_refuses_a_different_config_with_nonzero_exit(tmp_path):
    out = tmp_path / "run"
    base = [sys.executable, "-m", "probing_mia.train", f"out_dir={out}", *SHORT,
            "trainer.max_steps=2", "trainer.train_ref=false"]
    first = subprocess.run(base, cwd=ROOT, capture_output=True, text=True, timeout=200)
    assert first.returncode == 0, first.stderr[-2000:]
    assert (out / "target" / "final" / "model.safetensors").is_file()
    refused = subprocess.run(base + ["trainer.lr=1e-4"], cwd=ROOT, capture_output=True,
                             text=True, timeout=200)
    assert refused.returncode == 2
    assert "was created with a different config" in refused.stderr
    assert "trainer.lr: 0.003 -> 0.0001" in refused.stderr
    assert "Traceback" not in refused.stderr
