"""Issue 15: the run folder is a contract (recorded config, refusal, overwrite, one-unit
checkpoints, typed schemas, loading errors that name the file and the recovery)."""

from __future__ import annotations

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
from jakiro.checkpoint import CheckpointError, load_head
from jakiro.config import ConfigError, EvalRun, TrainRun, parse
from jakiro.data import DataError, load_conversations
from jakiro.runs import RunFolderError
from jakiro.train import run
from omegaconf import OmegaConf
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parents[1]
CONVS = [{"id": i, "conversations": [{"from": "human", "value": f"question number {i} here"},
                                     {"from": "gpt", "value": f"the answer to {i} is {i * 7}"}]}
         for i in range(12)]


@pytest.fixture
def data_file(tmp_path, monkeypatch):
    monkeypatch.setenv("JAKIRO_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "convs.json"
    path.write_text(json.dumps(CONVS))
    return path


def cfg(overrides: list[str], name: str = "train"):  # noqa: ANN201
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


def smoke(out: Path, data: Path, *extra: str):  # noqa: ANN201
    return cfg(["experiment=smoke", f"out_dir={out}", f"data.conversations={data}",
                "data.num_conversations=12", *extra])


def test_rerun_with_changed_config_is_refused_and_overwrite_starts_fresh(tmp_path, data_file):
    out = tmp_path / "run"
    first = run(smoke(out, data_file))
    assert first["steps"] == 6
    head_before = (out / "head" / "head.safetensors").read_bytes()
    with pytest.raises(RunFolderError) as err:
        run(smoke(out, data_file, "train.lr=1e-3", "train.max_steps=8"))
    msg = str(err.value)
    assert "was created with a different config" in msg
    assert "train.lr: 0.0003 -> 0.001" in msg and "train.max_steps: 6 -> 8" in msg
    assert "out_dir" in msg and "overwrite=true" in msg
    # Refused before any work: nothing in the folder changed.
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["lr"] == 3e-4
    assert (out / "head" / "head.safetensors").read_bytes() == head_before
    # Same config: reports the finished run, trains nothing.
    again = run(smoke(out, data_file))
    assert again["finished"] and again["steps"] == 6
    # overwrite=true wipes and trains with the new config, which is what gets recorded.
    fresh = run(smoke(out, data_file, "train.lr=1e-3", "overwrite=true"))
    assert fresh["steps"] == 6 and "finished" not in fresh
    rec = yaml.safe_load((out / "config.yaml").read_text())
    assert rec["train"]["lr"] == 1e-3
    logs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logs] == [1, 2, 3, 4, 5, 6]  # not appended to the old log
    assert logs[1]["lr"] == pytest.approx(1e-3)  # warm-up of 2 steps ends at the new lr


def test_recorded_config_is_the_config_that_ran(tmp_path, data_file):
    out = tmp_path / "run"
    c = smoke(out, data_file, "train.weight_decay=0.02", "head.num_experts=3")
    run(c)
    rec = yaml.safe_load((out / "config.yaml").read_text())
    resolved = OmegaConf.to_container(c, resolve=True)
    for key in ("out_dir", "overwrite", "threads"):
        resolved.pop(key)
    resolved["train"].pop("stop_at", None)
    parsed = parse(TrainRun, OmegaConf.to_container(c, resolve=True))
    assert rec["train"]["weight_decay"] == parsed.train.weight_decay == 0.02
    assert rec["head"] == resolved["head"] and rec["data"] == resolved["data"]
    # The exported head and the checkpoint carry the same hash as the folder.
    digest = (out / "config_hash").read_text().strip()
    head_cfg = json.loads((out / "head" / "head_config.json").read_text())
    assert head_cfg["config_hash"] == digest and head_cfg["head"]["num_experts"] == 3
    unit = next((out / "checkpoints").iterdir())
    assert json.loads((unit / "state.json").read_text())["config_hash"] == digest
    # The head really has 3 experts (the recorded value is the one used).
    assert sum(k.startswith("moe.experts.") and k.endswith("gate_proj.weight")
               for k in load_file(str(out / "head" / "head.safetensors"))) == 3


def test_cli_refusal_exits_nonzero_with_one_message(tmp_path, data_file):
    out = tmp_path / "run"
    run(smoke(out, data_file))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    args = [sys.executable, "-m", "jakiro.train", "experiment=smoke", f"out_dir={out}",
            f"data.conversations={data_file}", "data.num_conversations=12"]
    proc = subprocess.run([*args, "train.lr=1e-3"], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)
    assert proc.returncode != 0
    assert "was created with a different config" in proc.stderr
    assert "Traceback" not in proc.stderr
    typo = subprocess.run([*args, "+train.lrr=1"], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)
    assert typo.returncode != 0 and "train.lrr" in typo.stderr


def _interrupted(tmp_path: Path, data_file: Path) -> Path:
    out = tmp_path / "run"
    run(smoke(out, data_file, "train.stop_at=3"))
    assert (out / "checkpoints" / "step_00000003" / "manifest.json").exists()
    return out


def test_resume_from_a_verified_unit_equals_the_uninterrupted_run(tmp_path, data_file):
    out = _interrupted(tmp_path, data_file)
    resumed = run(smoke(out, data_file))  # stop_at is a runtime key: same config, resumes
    assert resumed["steps"] == 6
    full = tmp_path / "full"
    run(smoke(full, data_file))
    a = load_file(str(full / "head" / "head.safetensors"))
    b = load_file(str(out / "head" / "head.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("tear", ["missing_optimizer", "weights_from_other_step", "bad_manifest"])
def test_torn_checkpoint_is_refused(tmp_path, data_file, tear):
    out = _interrupted(tmp_path, data_file)
    unit = out / "checkpoints" / "step_00000003"
    if tear == "missing_optimizer":
        (unit / "optimizer.safetensors").unlink()
        expect = "optimizer.safetensors is missing"
    elif tear == "weights_from_other_step":
        w = load_file(str(unit / "head.safetensors"))
        save_file({k: v + 1e-3 for k, v in w.items()}, str(unit / "head.safetensors"))
        expect = "head.safetensors does not match its manifest"
    else:
        (unit / "manifest.json").write_text('{"step": 3, "sha2')
        expect = "manifest.json: line 1: not valid JSON"
    with pytest.raises(CheckpointError, match=expect) as err:
        run(smoke(out, data_file))
    assert "overwrite=true" in str(err.value) and str(unit) in str(err.value)


@pytest.mark.parametrize("override, key", [
    ("+typo=1", "typo"), ("+train.lrr=1e-3", "train.lrr"), ("+data.sead=1", "data.sead"),
    ("+head.experts=3", "head.experts"), ("+model.revision=x", "model.revision"),
    ("+train.loss.ce_weight=1", "train.loss.ce_weight"),
])
def test_unknown_keys_are_rejected(tmp_path, override, key):
    with pytest.raises(ConfigError, match=rf"unknown config key\(s\) {key.replace('.', '[.]')}"):
        run(cfg(["experiment=smoke", f"out_dir={tmp_path / 'r'}", override]))
    assert not (tmp_path / "r").exists()  # rejected before the folder was created


@pytest.mark.parametrize("override, match", [
    ("train.save_every=0", "train.save_every must be > 0"),
    ("train.log_every=0", "train.log_every must be > 0"),
    ("train.max_steps=-5", "train.max_steps must be >= 0"),
    ("train.warmup_steps=-10", "train.warmup_steps must be >= 0"),
    ("train.lr=0", "train.lr must be > 0"),
    ("train.lr=fast", "train.lr: expected a number"),
    ("train.batch_size=2.5", "train.batch_size: expected an integer"),
    ("data.num_conversations=0", "data.num_conversations must be > 0"),
    ("draft_vocab_size=-1", "draft_vocab_size must be >= 0"),
    ("overwrite=maybe", "overwrite: expected true or false"),
    ("head.kind=medusa", "head.kind must be"),
])
def test_out_of_range_and_mistyped_values_are_rejected(tmp_path, override, match):
    with pytest.raises(ConfigError, match=match):
        run(cfg(["experiment=smoke", f"out_dir={tmp_path / 'r'}", override]))
    assert not (tmp_path / "r").exists()


def test_eval_schema_rejects_typos_and_bad_values():
    for override, match in (("+eval.num_question=3", "eval.num_question"),
                            ("eval.tree.top_k=0", "eval.tree.top_k must be > 0"),
                            ("precision=fp16", "precision must be fp32 or bf16"),
                            ("eval.num_questions=0", "eval.num_questions must be > 0")):
        with pytest.raises(ConfigError, match=match):
            parse(EvalRun, OmegaConf.to_container(cfg([override], "eval"), resolve=True))
    # The shipped configs themselves parse (tiny, smoke and paper experiments).
    for exp in ("tiny", "smoke", "paper"):
        parse(EvalRun, OmegaConf.to_container(cfg([f"experiment={exp}"], "eval"), resolve=True))
        parse(TrainRun, OmegaConf.to_container(cfg([f"experiment={exp}"]), resolve=True))


def test_folder_without_a_record_is_refused(tmp_path, data_file):
    out = tmp_path / "old"
    (out / "state").mkdir(parents=True)
    with pytest.raises(RunFolderError, match="no recorded config"):
        run(smoke(out, data_file))
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="not deleting"):
        run(smoke(out, data_file, "overwrite=true"))
    assert (out / "notes.txt").exists()


def test_truncated_and_wrong_schema_data_name_the_file(tmp_path):
    text = json.dumps(CONVS)
    trunc = tmp_path / "convs.json"
    trunc.write_text(text[: len(text) // 2])
    with pytest.raises(DataError, match=r"convs\.json:1:\d+: not valid JSON .*truncated.*"
                                        r"regenerate it"):
        load_conversations(str(trunc), 4)
    gz = tmp_path / "convs.jsonl.gz"
    blob = gzip.compress("\n".join(json.dumps(r) for r in CONVS).encode())
    gz.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match=r"convs\.jsonl\.gz: truncated or corrupt file"):
        load_conversations(str(gz), 4)
    gz.write_bytes(blob)
    assert len(load_conversations(str(gz), 4)) == 4  # the intact file loads
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"messages": []}]))
    with pytest.raises(DataError, match=r"bad\.json: row 0: missing field 'conversations'"):
        load_conversations(str(bad), 4)
    bad.write_text(json.dumps([{"conversations": [{"role": "user", "value": "x"}]}]))
    with pytest.raises(DataError, match=r"row 0: conversations\[0\] must have 'from'"):
        load_conversations(str(bad), 4)


def test_corrupt_head_export_names_the_file(tmp_path, data_file):
    out = tmp_path / "run"
    run(smoke(out, data_file))
    from jakiro.assets import load_target

    target = load_target("random-tiny")
    path = out / "head" / "head.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"head\.safetensors: not a readable safetensors"):
        load_head(out / "head", target.model.cfg)
