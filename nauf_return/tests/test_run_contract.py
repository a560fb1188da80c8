"""Issue 15: a run folder is a contract; typed config; one-unit checkpoints; helpful errors."""

import copy
import json
from pathlib import Path

import pytest
import torch
import yaml

from nauf_return import pipeline, runs
from nauf_return.checkpoint import save_checkpoint
from nauf_return.errors import ConfigError
from nauf_return.records import read_persons
from nauf_return.training import LoopConfig, SFTDataset, run_loop, sft_step

from conftest import TINY_OVERRIDES, compose

SHORT = ["method=nauf_gd", "trainer.max_steps=2", "eval.robustness=false"]


def _train(tmp_path, *extra):
    from nauf_return.train import run_train

    return run_train(compose(TINY_OVERRIDES + SHORT + [f"output_dir={tmp_path}", *extra]))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, original):
    """A finished short training run (M_o copied in, so no injection), trained once."""
    _, _, _, mo, tok, _, _ = original
    path = tmp_path_factory.mktemp("finished") / "run"
    pipeline.save_original(mo, tok, path / "original")
    _train(path)
    return path


@pytest.fixture
def run_dir(tmp_path, finished_run):
    """A private copy of the finished run for a test to re-run into, alter or damage."""
    import shutil

    return Path(shutil.copytree(finished_run, tmp_path / "run", symlinks=True))


@pytest.mark.parametrize("override, key", [
    ("+methd=ga", "methd"), ("+trainer.typo=1", "typo"), ("+eval.judge.typo=1", "typo"),
    ("+data.n_person=3", "n_person"), ("+lora.rr=4", "rr"),
])
def test_unknown_keys_rejected_before_any_work(tmp_path, override, key):
    with pytest.raises(ConfigError, match=key):
        _train(tmp_path, override)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


@pytest.mark.parametrize("override, key", [
    ("trainer.lr=fast", "trainer.lr"), ("trainer.epochs=1.5", "trainer.epochs"),
    ("trainer.log_every=0", "trainer.log_every"), ("trainer.save_every=0", "trainer.save_every"),
    ("injection.check_every=0", "injection.check_every"),
    ("injection.save_every=-3", "injection.save_every"),
    ("trainer.max_steps=0", "trainer.max_steps"), ("trainer.warmup_ratio=-0.1", "warmup_ratio"),
    ("lora.target_modules=[]", "lora.target_modules"), ("methods=[]", "methods"),
    ("data.forget_ratio=1.5", "data.forget_ratio"), ("eval.judge.min_coverage=0", "min_coverage"),
    ("overwrite=maybe", "overwrite"),
])
def test_wrong_types_and_ranges_rejected_naming_the_key(tmp_path, override, key):
    with pytest.raises(ConfigError, match=key):
        _train(tmp_path, override)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_changed_config_is_refused_with_every_differing_key(run_dir):
    before = (run_dir / "augmented_refuse_difference/final/unlearned.json").read_bytes()
    with pytest.raises(ConfigError) as err:
        _train(run_dir, "trainer.lr=0.05", "beta=0.5")
    msg = str(err.value)
    assert "was created with a different config" in msg
    assert "trainer.lr: 0.005 -> 0.05" in msg and "beta: 0.1 -> 0.5" in msg
    assert "output_dir" in msg and "overwrite=true" in msg
    # Refused before any work: the finished model and its record are untouched.
    assert (run_dir / "augmented_refuse_difference/final/unlearned.json").read_bytes() == before


def test_refusal_exits_nonzero_from_the_command_line(run_dir):
    import subprocess
    import sys

    from conftest import ROOT

    proc = subprocess.run(
        [sys.executable, "-m", "nauf_return.train", *TINY_OVERRIDES, *SHORT,
         f"output_dir={run_dir}", "trainer.lr=0.05"],
        cwd=ROOT, capture_output=True, text=True, timeout=220)
    assert proc.returncode != 0
    assert "was created with a different config" in proc.stderr


def test_same_config_reports_the_finished_result(run_dir):
    record = run_dir / "augmented_refuse_difference/final/unlearned.json"
    before = record.read_bytes()
    _train(run_dir)
    assert record.read_bytes() == before


def test_recorded_config_is_the_config_that_ran(run_dir):
    recorded = yaml.safe_load((run_dir / "config.yaml").read_text())
    meta = json.loads((run_dir / "augmented_refuse_difference/final/unlearned.json").read_text())
    ran = meta["config"]
    for key in runs.IGNORED:
        head, _, leaf = key.rpartition(".")
        (ran[head] if head else ran).pop(leaf)
    assert ran == recorded
    assert meta["config_hash"] == (run_dir / "config_hash").read_text().strip()
    assert meta["config_hash"] == runs.config_hash(recorded)
    assert meta["optimizer_steps"] == 2 and meta["lr"] == recorded["trainer"]["lr"]


def test_overwrite_wipes_and_retrains_with_the_new_config(run_dir):
    _train(run_dir, "trainer.lr=0.05", "overwrite=true")
    meta = json.loads((run_dir / "augmented_refuse_difference/final/unlearned.json").read_text())
    assert meta["lr"] == 0.05 and meta["config"]["trainer"]["lr"] == 0.05
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["trainer"]["lr"] == 0.05


def test_folder_without_record_is_not_silently_reused(tmp_path):
    (tmp_path / "results_old.json").write_text("{}")
    with pytest.raises(ConfigError, match="no config.yaml"):
        _train(tmp_path)


def _sft_setup(original):
    cfg, _, acc, mo, tok, bench, _ = original
    data = SFTDataset(bench.retain_train[:2], tok, pipeline.prompt_format(cfg), biographies=False)
    # An earlier KL method may have frozen the shared M_o as its reference: train a copy.
    mo = copy.deepcopy(mo).requires_grad_(True)
    return acc, mo, data, LoopConfig(lr=1e-3, epochs=2, batch_size=8, save_every=2, seed=3)


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:99]),
     "does not match its sha256"),
    (lambda d: (d / "optimizer.safetensors").unlink(), "optimizer.safetensors is missing"),
    (lambda d: (d / "manifest.json").unlink(), "has no manifest.json"),
    (lambda d: (d / "rng.safetensors").write_bytes(b"x"), "does not match its sha256"),
])
def test_torn_checkpoint_is_refused(tmp_path, original, damage, message):
    acc, mo, data, loop = _sft_setup(original)
    run_loop(acc, copy.deepcopy(mo), data, sft_step, loop, tmp_path, "sft")
    damage(tmp_path / "sft_checkpoint")
    with pytest.raises(ConfigError, match=message) as err:
        run_loop(acc, copy.deepcopy(mo), data, sft_step, loop, tmp_path, "sft", resume=True)
    assert "trainer.resume=false" in str(err.value)


def test_checkpoint_is_written_as_one_unit(tmp_path, original):
    """A kill mid-save leaves only a hidden temp folder: the checkpoint is the old or the new."""
    acc, mo, data, loop = _sft_setup(original)
    model = copy.deepcopy(mo)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    save_checkpoint(tmp_path / "ckpt", model, opt, sched, {"tag": "sft", "step": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert json.loads((tmp_path / "ckpt/manifest.json").read_text()).keys() == {
        "model.safetensors", "optimizer.safetensors", "rng.safetensors", "trainer_state.json"}


def test_injection_checkpoints_and_resumes_exactly(tmp_path, original, monkeypatch):
    cfg, world, acc, _, _, _, _ = original
    from omegaconf import OmegaConf

    cfg = OmegaConf.merge(cfg, {"injection": {"epochs": 3, "check_every": 2,
                                              "target_fraction": 1.0, "check_from": 2}})

    def fresh():
        return pipeline.base_model(cfg, world)

    model, tok = fresh()
    straight = pipeline.inject_knowledge(cfg, model, tok, world, acc, None)

    calls = {"n": 0}
    real = pipeline.sft_step

    def crashing(m):
        step = real(m)

        def inner(batch):
            calls["n"] += 1
            if calls["n"] == 20:  # mid second epoch: resumes from the end of the first
                raise RuntimeError("killed")
            return step(batch)
        return inner
    monkeypatch.setattr(pipeline, "sft_step", crashing)
    model, tok = fresh()
    with pytest.raises(RuntimeError, match="killed"):
        pipeline.inject_knowledge(cfg, model, tok, world, acc, tmp_path)
    assert (tmp_path / "inject_checkpoint/manifest.json").is_file()
    monkeypatch.setattr(pipeline, "sft_step", real)
    model, tok = fresh()
    resumed = pipeline.inject_knowledge(cfg, model, tok, world, acc, tmp_path)
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_truncated_and_wrong_schema_files_name_the_file_and_line(tmp_path):
    good = json.dumps({"name": "A B", "data": [{"question": "q?", "gold_answer": "a"}]})
    truncated = tmp_path / "persons.jsonl"
    truncated.write_text(good + "\n" + good[:30] + "\n")
    with pytest.raises(ConfigError, match=r"persons.jsonl:2: not valid JSON"):
        read_persons(truncated)
    wrong = tmp_path / "chat.jsonl"
    wrong.write_text(json.dumps({"name": "A B", "messages": [{"from": "user"}]}) + "\n")
    with pytest.raises(ConfigError, match=r"chat.jsonl:1: expected a 'data' or 'qa_list'"):
        read_persons(wrong)
    missing = tmp_path / "nogold.jsonl"
    missing.write_text(json.dumps({"name": "A B", "data": [{"question": "q?"}]}) + "\n")
    with pytest.raises(ConfigError, match=r"nogold.jsonl:1 QA 0: missing field 'answer'"):
        read_persons(missing)


def test_damaged_run_record_names_the_file_and_the_way_out(run_dir):
    (run_dir / "config.yaml").write_text("seed: [unclosed\n")
    with pytest.raises(ConfigError, match=r"config.yaml: not valid YAML.*overwrite=true"):
        _train(run_dir)


def test_corrupted_original_model_names_the_file(run_dir):
    weights = run_dir / "original" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:64])
    import shutil

    shutil.rmtree(run_dir / "augmented_refuse_difference" / "final")
    with pytest.raises(ConfigError, match=r"original/model.safetensors.*overwrite=true"):
        _train(run_dir)
