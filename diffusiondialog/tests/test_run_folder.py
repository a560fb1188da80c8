"""Issue 15: a run folder is a contract; checkpoints are one unit; every typo is rejected before
any work; loading errors name the file and the way out."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import tiny_train_overrides
from diffusiondialog.checkpoint import CheckpointError, load_checkpoint, load_train_state
from diffusiondialog.config import build_spec, validate_train_config
from diffusiondialog.data import DataError, chitchat_conversations, read_hf_jsonl
from diffusiondialog.runfolder import config_hash, recorded_config
from diffusiondialog.schema import ConfigError, validated
from diffusiondialog.tokenizer import load_tokenizer
from diffusiondialog.trainer import train
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]


def _cli(args: list[str], cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DIFFUSIONDIALOG_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "diffusiondialog.train", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=240)


def _tree(folder: Path) -> list[tuple[str, int]]:
    return sorted((p.relative_to(folder).as_posix(), p.stat().st_mtime_ns)
                  for p in folder.rglob("*"))


def test_cli_refuses_changed_config_before_any_work_then_overwrite(plato_dir, tmp_path):
    out = tmp_path / "run"
    args = tiny_train_overrides(plato_dir, out, 2)
    first = _cli(args, tmp_path / "c")
    assert first.returncode == 0, first.stderr[-2000:]
    before = _tree(out)
    # The case: a "resume" with another d_model and lr.
    refused = _cli(args + ["model.bart.d_model=64", "trainer.lr=1e-2"], tmp_path / "c")
    assert refused.returncode != 0
    msg = refused.stderr
    assert "was created with a different config" in msg and "overwrite=true" in msg
    assert "model.bart.d_model: 32 -> 64" in msg and "trainer.lr: 0.001 -> 0.01" in msg
    assert "Traceback" not in msg
    assert _tree(out) == before  # nothing written, nothing touched
    again = _cli(args + ["model.bart.d_model=64", "overwrite=true"], tmp_path / "c")
    assert again.returncode == 0, again.stderr[-2000:]
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["bart"]["d_model"] == 64
    model, _, _ = load_checkpoint(out / "checkpoint")
    assert model.spec.bart["d_model"] == 64
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]  # the wiped run's lines are gone, not appended to


def test_recorded_config_is_the_config_that_ran(compose_cfg, plato_dir, tmp_path):
    out = tmp_path / "run"
    cfg = compose_cfg("train", tiny_train_overrides(plato_dir, out, 2) + ["trainer.lr=3e-3"])
    ckpt = train(cfg)
    record = yaml.safe_load((out / "config.yaml").read_text())
    assert (out / "config_hash").read_text().strip() == config_hash(record)
    assert record == recorded_config(validate_train_config(cfg))
    model, tok, _ = load_checkpoint(ckpt)
    rebuilt = build_spec(OmegaConf.create(record), tok.get_vocab_size())
    assert rebuilt.to_dict() == model.spec.to_dict()
    state = load_train_state(ckpt)
    assert [g["initial_lr"] for g in state["optimizer"]["param_groups"]] == [3e-3, 3e-3]
    assert state["config"]["trainer"]["lr"] == record["trainer"]["lr"] == 3e-3


def test_same_config_resumes_or_reports_finished(compose_cfg, plato_dir, tmp_path, capsys):
    out = tmp_path / "run"
    over = tiny_train_overrides(plato_dir, out, 2)
    train(compose_cfg("train", over))
    before = _tree(out)
    train(compose_cfg("train", over))
    assert "run already finished (2 of 2 steps)" in capsys.readouterr().out
    assert _tree(out) == before
    with pytest.raises(ConfigError, match="trainer.resume=false.*overwrite=true"):
        train(compose_cfg("train", over + ["trainer.resume=false"]))


def test_new_vocab_size_is_a_config_change_not_a_reused_tokenizer(compose_cfg, plato_dir,
                                                                  tmp_path):
    out = tmp_path / "run"
    over = tiny_train_overrides(plato_dir, out, 1)
    train(compose_cfg("train", over))
    with pytest.raises(ConfigError, match="data.vocab_size: 300 -> 280"):
        train(compose_cfg("train", over + ["data.vocab_size=280", "trainer.resume=false"]))
    ckpt = train(compose_cfg("train", over + ["data.vocab_size=280", "overwrite=true"]))
    assert load_tokenizer(out / "tokenizer.json").get_vocab_size() == 280
    assert load_checkpoint(ckpt)[1].get_vocab_size() == 280


def test_missing_train_state_is_an_error_not_a_restart(compose_cfg, plato_dir, tmp_path):
    out = tmp_path / "run"
    over = tiny_train_overrides(plato_dir, out, 4)
    train(compose_cfg("train", over + ["trainer.stop_after=2"]))
    (out / "checkpoint" / "train_state.pt").unlink()
    with pytest.raises(CheckpointError, match="train_state.pt is missing.*overwrite=true"):
        train(compose_cfg("train", over))


def test_torn_checkpoint_is_refused(compose_cfg, plato_dir, tmp_path):
    """Weights from step 2 with the training state of step 4: the manifest catches it."""
    a, b = tmp_path / "a", tmp_path / "b"
    train(compose_cfg("train", tiny_train_overrides(plato_dir, a, 6) + ["trainer.stop_after=2"]))
    train(compose_cfg("train", tiny_train_overrides(plato_dir, b, 6) + ["trainer.stop_after=4"]))
    (b / "checkpoint" / "model.safetensors").write_bytes(
        (a / "checkpoint" / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="model.safetensors does not match its manifest"):
        train(compose_cfg("train", tiny_train_overrides(plato_dir, b, 6)))
    with pytest.raises(CheckpointError, match="torn checkpoint"):
        load_checkpoint(b / "checkpoint")


def test_kill_between_checkpoint_renames_resumes_from_the_previous_one(compose_cfg, plato_dir,
                                                                       tmp_path):
    out = tmp_path / "run"
    over = tiny_train_overrides(plato_dir, out, 4)
    full = train(compose_cfg("train", tiny_train_overrides(plato_dir, tmp_path / "full", 4)))
    train(compose_cfg("train", over + ["trainer.stop_after=2"]))
    os.replace(out / "checkpoint", out / "checkpoint.old")  # state after the first rename
    resumed = train(compose_cfg("train", over))
    a = load_checkpoint(full)[0].state_dict()
    b = load_checkpoint(resumed)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_torn_metrics_line_is_dropped_on_resume(compose_cfg, plato_dir, tmp_path):
    out = tmp_path / "run"
    over = tiny_train_overrides(plato_dir, out, 4)
    train(compose_cfg("train", over + ["trainer.stop_after=2"]))
    with (out / "metrics.jsonl").open("a") as f:
        f.write('{"step": 3, "lo')  # a kill in the middle of a write after the checkpoint
    train(compose_cfg("train", over))
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2, 3, 4]


@pytest.mark.parametrize("override, key", [
    ("+trainer.typo=1", "trainer.typo"), ("+typo=1", "typo"), ("+data.vocab=10", "data.vocab"),
    ("+model.bart.typo=1", "model.bart.typo"), ("+eval.decode.beam=3", "eval.decode.beam"),
    ("trainer.save_every=0", "trainer.save_every"), ("trainer.log_every=0", "trainer.log_every"),
    ("trainer.warmup=-10", "trainer.warmup"), ("data.vocab_size=0", "data.vocab_size"),
    ("trainer.steps=-5", "trainer.steps"), ("trainer.lr=abc", "trainer.lr"),
    ("model.bart.d_model=30", "model.bart.encoder_attention_heads"),
    ("trainer.mixed_precision=fp8", "trainer.mixed_precision"),
    ("data.max_source=0", "data.max_source"),
])
def test_bad_config_rejected_before_any_work(compose_cfg, plato_dir, tmp_path, override, key):
    out = tmp_path / "never"
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        train(compose_cfg("train", tiny_train_overrides(plato_dir, out, 1) + [override]))
    assert not out.exists()


@given(every=st.integers(-3, 3), which=st.sampled_from(["log_every", "save_every", "steps"]))
def test_nonpositive_intervals_rejected_positive_accepted(every, which):
    cfg = OmegaConf.create({"data": {"path": "chitchat"},
                            "trainer": {which: every, "output_dir": "x"}})
    if every >= 1:
        assert validated(cfg).trainer[which] == every
    else:
        with pytest.raises(ConfigError, match=f"trainer.{which} must be >= 1"):
            validated(cfg)


def test_eval_rejects_typos_before_loading(compose_cfg):
    from diffusiondialog.evaluation import evaluate
    with pytest.raises(ConfigError, match="eval.typo"):
        evaluate(compose_cfg("eval", ["+eval.typo=1"]))
    with pytest.raises(ConfigError, match="eval.k"):
        evaluate(compose_cfg("eval", ["eval.k=0"]))
    with pytest.raises(ConfigError, match="eval.decode.top_p"):
        evaluate(compose_cfg("eval", ["eval.decode.top_p=0"]))


@pytest.mark.parametrize("name", ["manifest.json", "spec.json", "tokenizer.json",
                                  "model.safetensors", "train_state.pt"])
def test_truncated_checkpoint_file_is_named(compose_cfg, plato_dir, tmp_path, name):
    out = tmp_path / "run"
    ckpt = train(compose_cfg("train", tiny_train_overrides(plato_dir, out, 1)))
    f = ckpt / name
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(CheckpointError) as err:
        load_train_state(ckpt) if name == "train_state.pt" else load_checkpoint(ckpt)
    assert name in str(err.value) and "overwrite=true" in str(err.value)


def test_truncated_recorded_config_is_named(compose_cfg, plato_dir, tmp_path):
    out = tmp_path / "run"
    over = tiny_train_overrides(plato_dir, out, 1)
    train(compose_cfg("train", over))
    (out / "config.yaml").write_text("model: {kind: [")
    with pytest.raises(ConfigError, match=r"(?s)config\.yaml.*overwrite=true"):
        train(compose_cfg("train", over))


def test_truncated_or_wrong_schema_data_files_are_named(tmp_path):
    good = {"c1": {"messages": [[{"sender": "a", "text": "hi"}], [{"sender": "b",
                                                                   "text": "yo"}]]}}
    f = tmp_path / "dataset.json"
    f.write_text(json.dumps(good)[:-7])
    with pytest.raises(DataError, match=r"dataset\.json: not valid JSON.*truncated"):
        chitchat_conversations(f)
    f.write_text(json.dumps({"c1": {"turns": []}}))
    with pytest.raises(DataError, match=r"dataset\.json: conversation 'c1'.*'messages'"):
        chitchat_conversations(f)
    j = tmp_path / "train.jsonl"
    j.write_text('{"dialog": ["a", "b"]}\n{"dialog": ["a", ')
    with pytest.raises(DataError, match=r"train\.jsonl:2: not valid JSON"):
        read_hf_jsonl(j)


def test_overwrite_never_wipes_a_folder_it_did_not_write(compose_cfg, plato_dir, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    over = tiny_train_overrides(plato_dir, out, 1)
    with pytest.raises(ConfigError, match="no config.yaml"):
        train(compose_cfg("train", over))
    with pytest.raises(ConfigError, match="thesis.tex"):
        train(compose_cfg("train", over + ["overwrite=true"]))
    assert (out / "thesis.tex").read_text() == "precious"


def test_default_output_dir_names_the_experiment(compose_cfg):
    tiny = validated(compose_cfg("train", []))
    paper = validated(compose_cfg("train", ["experiment=paper", "data.path=/d",
                                            "data.tokenizer=/t.json"]))
    assert tiny.trainer.output_dir == "runs/tiny/diffusiondialog"
    assert paper.trainer.output_dir == "runs/paper/diffusiondialog"
