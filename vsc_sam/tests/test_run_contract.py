"""A run folder is a contract (issue 15): re-run refusal, recorded config = real config,
overwrite, one-unit checkpoints (torn ones refused), typed configs rejecting typos and
out-of-range values before any work, loading errors that name the file, and eval outputs that
replace the previous run whole or not at all."""

import json
import os
import subprocess
import sys

import pytest
from conftest import EVAL, ROOT, TINY, TRAIN, compose_cfg
from omegaconf import OmegaConf
from vsc_sam.benchmark import BenchmarkConfig, BenchmarkFileError, generate_benchmark
from vsc_sam.checkpoint import CheckpointError
from vsc_sam.config import ConfigError
from vsc_sam.run_folder import RunFolderError

from vsc_sam import eval as eval_main
from vsc_sam import train as train_main

# Synthesised matrices only: no split is generated, a training run takes about a second.
FAST = TINY + TRAIN + ["data.negatives_per_query=-1"]


def train(tmp_path, *extra):
    return train_main.run(compose_cfg("train", FAST + [f"output_dir={tmp_path}", *extra]))


def unit(folder):
    (found,) = folder.glob("ckpt-*")
    return found


def test_cli_refuses_a_changed_config_with_one_message_and_exit_status(tmp_path):
    cmd = [sys.executable, "-m", "vsc_sam.train", *FAST, f"output_dir={tmp_path}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert first.returncode == 0, first.stderr[-2000:]
    before = (tmp_path / "sam" / "checkpoint.json").read_text()
    out = subprocess.run(
        [*cmd, "trainer.lr=0.002"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "was created with a different config" in out.stderr
    assert "trainer.lr: 0.001 -> 0.002" in out.stderr
    assert "overwrite=true" in out.stderr and "new output folder" in out.stderr
    assert (tmp_path / "sam" / "checkpoint.json").read_text() == before  # nothing was touched


def test_recorded_config_is_the_config_that_ran(tmp_path):
    stats = train(tmp_path, "model.width=3", "trainer.lr=0.004")
    cfg = compose_cfg(
        "train", FAST + [f"output_dir={tmp_path}", "model.width=3", "trainer.lr=0.004"]
    )
    record = json.loads((tmp_path / "sam" / "config.json").read_text())
    assert record["config"] == OmegaConf.to_container(cfg, resolve=True) == stats["config"]
    assert (tmp_path / "sam" / "config_hash").read_text().strip() == record["config_hash"]
    assert stats["config_hash"] == record["config_hash"]
    state = json.loads((unit(tmp_path / "sam") / "state.json").read_text())
    assert state["config"]["model"] == {"width": 3, "depth": 2}  # the weights' real architecture
    assert state["config"]["train"]["lr"] == 0.004


def test_differences_list_every_key_and_same_config_reports_the_finished_run(tmp_path, monkeypatch):
    train(tmp_path)
    with pytest.raises(RunFolderError) as refused:
        train(tmp_path, "trainer.lr=0.002", "model.width=5", "+trainer.cpu=true")
    text = str(refused.value)
    for line in ("trainer.lr: 0.001 -> 0.002", "model.width: 4 -> 5", "trainer.cpu: null -> true"):
        assert line in text
    # the same config again: the stored result, no training (train_sam would raise)
    monkeypatch.setattr(train_main, "train_sam", lambda *a, **k: pytest.fail("retrained"))
    assert train(tmp_path)["step"] == 3


def test_overwrite_wipes_and_starts_fresh(tmp_path):
    train(tmp_path)
    stats = train(tmp_path, "trainer.lr=0.002", "overwrite=true")
    record = json.loads((tmp_path / "sam" / "config.json").read_text())
    assert record["config"]["trainer"]["lr"] == 0.002 and stats["step"] == 3
    log = (tmp_path / "sam" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [3]  # the old run's line is gone


@pytest.mark.parametrize(
    "damage, message",
    [
        ("corrupt model.safetensors", "model.safetensors: sha256 differs"),
        ("delete optimizer.safetensors", "optimizer.safetensors: missing piece"),
        ("delete rng.safetensors", "rng.safetensors: missing piece"),
        ("delete checkpoint.json", "checkpoint.json: missing, but"),
        ("truncate checkpoint.json", "checkpoint.json: unreadable"),
    ],
)
def test_torn_checkpoint_is_refused_not_restarted(tmp_path, damage, message):
    train(tmp_path, "trainer.steps=2", "trainer.checkpoint_every=1")
    folder = tmp_path / "sam"
    (folder / "train_result.json").unlink()  # as if killed before the end
    action, name = damage.split()
    path = folder / name if name == "checkpoint.json" else unit(folder) / name
    if action == "corrupt":
        data = bytearray(path.read_bytes())
        data[-1] ^= 1
        path.write_bytes(bytes(data))
    elif action == "delete":
        path.unlink()
    else:
        path.write_text(path.read_text()[:10])
    with pytest.raises(CheckpointError, match=message) as error:
        train(tmp_path, "trainer.steps=2", "trainer.checkpoint_every=1")
    assert "overwrite=true" in str(error.value)


TYPOS = [
    ("train", "+typo=1", "typo: unknown key"),
    ("train", "+trainer.typo=1", "trainer.typo: unknown key"),
    ("train", "+model.widht=24", "model.widht: unknown key"),
    ("train", "+data.train.colour=1", "data.train.colour: unknown key"),
    ("train", "+eval.bootstrapp=5", "eval.bootstrapp: unknown key"),
    ("train", "trainer.checkpoint_every=0", "trainer.checkpoint_every: must be >= 1"),
    ("train", "trainer.log_every=0", "trainer.log_every: must be >= 1"),
    ("train", "trainer.steps=-5", "trainer.steps: must be >= 1"),
    ("train", "trainer.lr=0", "trainer.lr: must be > 0"),
    ("train", "trainer.steps=abc", "trainer.steps: expected int"),
    ("train", "trainer.canvas=34", "trainer.canvas=34: must be a multiple"),
    ("train", "model.depth=0", "model.depth: must be >= 1"),
    ("train", "descriptors=[]", "descriptors: expected a non-empty"),
    ("eval", "+eval.bootstrapp=5", "eval.bootstrapp: unknown key"),
    ("eval", "+model.widht=24", "model.widht: unknown key"),
    ("eval", "+tn.typo=1", "tn.typo: unknown key"),
    ("eval", "+trainer.typo=1", "trainer.typo: unknown key"),
    ("eval", "+typo=1", "typo: unknown key"),
    ("eval", "eval.bootstrap=-1", "eval.bootstrap: must be >= 0"),
    ("eval", "tn.max_step=1", "tn.max_step: must be >= 2"),
    ("eval", "tn.score=median", "tn.score: expected one of"),
    ("eval", "sscd.log_every=0", "sscd.log_every: must be >= 1"),
    ("eval", "pair_filter.steps=0", "pair_filter.steps: must be >= 1"),
    ("eval", "eval.raw_range=[0.9,0.2]", "eval.raw_range: expected low < high"),
    ("eval", "data.test.n_queries=0", "benchmark.n_queries must be >= 1"),
]


@pytest.mark.parametrize("entry, override, message", TYPOS)
def test_typos_and_ranges_rejected_before_any_work(tmp_path, entry, override, message):
    common = TINY + [f"output_dir={tmp_path}/run", f"data.cache_dir={tmp_path}/cache"]
    extra = TRAIN if entry == "train" else EVAL + ["eval.localisers=[tn]", "descriptors=[sscd]"]
    main = train_main if entry == "train" else eval_main
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        main.run(compose_cfg(entry, common + extra + [override]))
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()


def test_missing_inputs_fail_before_any_split_or_descriptor(tmp_path):
    common = TINY + TRAIN + [f"output_dir={tmp_path}/run", f"data.cache_dir={tmp_path}/cache"]
    with pytest.raises(ConfigError, match="sscd.checkpoint=.*no SSCD checkpoint"):
        train_main.run(
            compose_cfg("train", common + ["descriptors=[sscd]", f"sscd.checkpoint={tmp_path}/no"])
        )
    with pytest.raises(ConfigError, match="descriptor.model_spec='/nope.pth'"):
        train_main.run(
            compose_cfg(
                "train", common + ["descriptors=[efficientnet]", "descriptor.model_spec=/nope.pth"]
            )
        )
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()


def test_truncated_split_files_name_the_file_and_the_recovery(tmp_path):
    from vsc_sam.benchmark import Benchmark

    cfg = BenchmarkConfig(n_queries=3, n_refs=3, frame_size=16)
    generate_benchmark(cfg).save(tmp_path / "split")
    manifest = tmp_path / "split" / "manifest.json"
    text = manifest.read_text()
    manifest.write_text(text[: len(text) // 2])
    with pytest.raises(BenchmarkFileError, match=r"manifest\.json: not a complete .* delete"):
        Benchmark.load(tmp_path / "split")
    manifest.write_text(text)
    video = next((tmp_path / "split" / "videos").glob("*.npz"))
    video.write_bytes(video.read_bytes()[:50])
    with pytest.raises(BenchmarkFileError, match=rf"{video.name}.*delete .*split"):
        Benchmark.load(tmp_path / "split")


def eval_args(tmp_path):
    common = TINY + [f"output_dir={tmp_path}", f"data.cache_dir={tmp_path}/cache"]
    return common + EVAL + ["pair_filter.enabled=false", f"eval.output={tmp_path}/r.json"]


def test_eval_crash_leaves_the_previous_run_intact(tmp_path, monkeypatch):
    args = eval_args(tmp_path) + ["eval.localisers=[tn,dp]"]
    eval_main.run(compose_cfg("eval", args))
    run_dir = tmp_path / "eval"
    before = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    published = (tmp_path / "r.json").read_bytes()
    calls = []
    real = eval_main.run_localiser

    def crash_on_second(localiser, matrices):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed mid-eval")
        return real(localiser, matrices)

    monkeypatch.setattr(eval_main, "run_localiser", crash_on_second)
    with pytest.raises(RuntimeError, match="killed mid-eval"):
        eval_main.run(compose_cfg("eval", args + ["tn.max_step=3", "overwrite=true"]))
    after = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert after == before  # old CSVs and JSON, none of the new run's
    assert (tmp_path / "r.json").read_bytes() == published
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".eval.")]  # no stage left
    # a changed config into the finished folder is refused; the same one reports its result
    monkeypatch.setattr(eval_main, "run_localiser", real)
    with pytest.raises(RunFolderError, match=r"tn\.max_step: 5 -> 3"):
        eval_main.run(compose_cfg("eval", args + ["tn.max_step=3"]))
    monkeypatch.setattr(eval_main, "load_split", lambda *a: pytest.fail("recomputed"))
    assert eval_main.run(compose_cfg("eval", args))["config_hash"]


def test_eval_identity_includes_the_sam_checkpoint_it_scores(tmp_path):
    args = TINY + TRAIN + [f"output_dir={tmp_path}", "data.negatives_per_query=-1"]
    train_main.run(compose_cfg("train", args))
    ev = eval_args(tmp_path) + ["eval.localisers=[sam]"]
    first = eval_main.run(compose_cfg("eval", ev))
    assert set(first["input_checkpoints"]) == {"sam"}
    train_main.run(compose_cfg("train", args + ["trainer.seed=1", "overwrite=true"]))
    with pytest.raises(RunFolderError, match="input_checkpoints.sam"):
        eval_main.run(compose_cfg("eval", ev))


def test_swap_replaces_whole_and_recovers_a_crash_between_its_renames(tmp_path):
    from vsc_sam.run_folder import recover, swap_in

    final, stage = tmp_path / "eval", tmp_path / ".eval.tmp"
    final.mkdir()
    (final / "result.json").write_text("old")
    stage.mkdir()
    (stage / "result.json").write_text("new")
    swap_in(stage, final)
    assert (final / "result.json").read_text() == "new" and not stage.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["eval"]
    final.rename(tmp_path / ".eval.old")  # killed after the first rename of a later swap
    (tmp_path / ".eval.tmp-x1").mkdir()  # and a stage of a run killed during its work
    recover(final)
    assert (final / "result.json").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["eval"]
