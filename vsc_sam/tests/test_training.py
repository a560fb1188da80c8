"""SAM training: loss, checkpoint round trip and resume, a 2-process DDP step (gloo), config
errors, and a small end-to-end train + eval through the Hydra entry points."""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import EVAL, ROOT, TINY, TRAIN, compose_cfg
from omegaconf import OmegaConf
from vsc_sam.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model_weights,
    read_state,
    save_checkpoint,
)
from vsc_sam.config import ConfigError
from vsc_sam.localization.sam_net import SAMUNet, soft_cross_entropy_sum
from vsc_sam.localization.training_data import SynthesisConfig, augment, synthesized_sample
from vsc_sam.run_folder import RunFolderError
from vsc_sam.training import TrainConfig, build_samples, train_sam


def test_soft_cross_entropy_sum_matches_definition():
    logits = torch.randn(2, 2, 5, 6)
    target = torch.rand(2, 5, 6)
    p1 = torch.softmax(logits, 1)[:, 1]
    manual = -(target * p1.log() + (1 - target) * (1 - p1).log()).sum()
    assert torch.allclose(soft_cross_entropy_sum(logits, target), manual, atol=1e-4)


def test_synthesised_samples_and_augment_transpose_together():
    rng = np.random.default_rng(0)
    sim, target = synthesized_sample(rng, SynthesisConfig(max_size=40, copy_prob=1.0))
    assert sim.shape == target.shape and target.max() > 0.9
    for seed in range(6):
        a_sim, a_t = augment(sim, target, np.random.default_rng(seed))
        assert a_t.shape == a_sim.shape
        assert np.array_equal(a_t, target) or np.array_equal(a_t, target.T)


def test_checkpoint_round_trip_and_mismatch(tmp_path):
    model = SAMUNet(width=4, depth=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(1, 1, 16, 16)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path, model, opt, 7, {"model": {"width": 4}})
    model2 = SAMUNet(width=4, depth=2)
    opt2 = torch.optim.Adam(model2.parameters(), lr=1e-3)
    assert load_checkpoint(tmp_path, model2, opt2) == 7
    for a, b in zip(model.state_dict().values(), model2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    s1, s2 = opt.state_dict()["state"][0], opt2.state_dict()["state"][0]
    assert torch.equal(s1["exp_avg"], s2["exp_avg"])
    with pytest.raises(CheckpointError, match="does not match the model config"):
        load_checkpoint(tmp_path, SAMUNet(width=8, depth=2), opt2)


def test_interrupted_training_resumes_bit_identically(tmp_path, monkeypatch):
    """A run killed after its step-2 checkpoint resumes from that unit (weights, optimizer, RNG,
    step) and ends with exactly the weights of an uninterrupted run; the log is not duplicated."""
    import vsc_sam.training as training

    cfg = TrainConfig(canvas=32, steps=4, batch_size=4, n_synthetic=10, checkpoint_every=2)
    cfg.log_every = 1
    samples = build_samples(cfg, [])
    model_cfg = {"width": 4, "depth": 2}
    whole = train_sam(samples, cfg, model_cfg, tmp_path / "whole", cpu=True)
    real_save = training.save_checkpoint

    def save_then_die(folder, model, optimizer, step, config):
        real_save(folder, model, optimizer, step, config)
        if step == 2:
            raise KeyboardInterrupt("killed after the step-2 checkpoint")

    monkeypatch.setattr(training, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_sam(samples, cfg, model_cfg, tmp_path / "cut", cpu=True)
    monkeypatch.setattr(training, "save_checkpoint", real_save)
    torch.manual_seed(123)  # the resumed run must not depend on the process's RNG
    resumed = train_sam(samples, cfg, model_cfg, tmp_path / "cut", cpu=True)
    assert resumed["step"] == whole["step"] == 4
    assert resumed["param_checksum"] == whole["param_checksum"]
    a, b = SAMUNet(**model_cfg), SAMUNet(**model_cfg)
    load_model_weights(tmp_path / "whole", a)
    load_model_weights(tmp_path / "cut", b)
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y)
    log = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [1, 2, 3, 4]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ddp_two_processes_gloo(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={_free_port()}",
        "-m",
        "vsc_sam.train",
        *TINY,
        *TRAIN,
        "data.negatives_per_query=-1",
        "trainer.cpu=true",
        f"output_dir={tmp_path}",
        "trainer.steps=2",
    ]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    sums = re.findall(r"rank (\d) world 2 param_checksum ([-\d.]+)", out.stdout)
    assert sorted(r for r, _ in sums) == ["0", "1"]
    assert sums[0][1] == sums[1][1]  # DDP kept the replicas identical
    assert read_state(tmp_path / "sam")["step"] == 2
    assert json.loads((tmp_path / "sam" / "train_result.json").read_text())["world_size"] == 2


def test_config_errors(tmp_path):
    from vsc_sam import eval as eval_main
    from vsc_sam import train as train_main

    with pytest.raises(ConfigError, match="descriptors"):
        train_main.run(compose_cfg("train", TINY + TRAIN + ["descriptors=[sift]"]))
    with pytest.raises(ConfigError, match=r"data\.train\.colour: unknown key"):
        train_main.run(compose_cfg("train", TINY + TRAIN + ["+data.train.colour=1"]))
    with pytest.raises(ConfigError, match="eval.localisers"):
        eval_main.run(compose_cfg("eval", TINY + EVAL + ["eval.localisers=[magic]"]))
    with pytest.raises(ConfigError, match="no SAM checkpoint"):
        eval_main.run(compose_cfg("eval", TINY + EVAL + [f"output_dir={tmp_path}"]))
    # Bad SSCD / pair-filter fields fail before a split is generated or a descriptor computed.
    early = TINY + EVAL + ["eval.localisers=[tn]", f"data.cache_dir={tmp_path}/cache"]
    with pytest.raises(ConfigError, match=r"sscd\.colour"):
        eval_main.run(compose_cfg("eval", early + ["descriptors=[sscd]", "+sscd.colour=1"]))
    with pytest.raises(ConfigError, match=r"pair_filter\.colour"):
        eval_main.run(
            compose_cfg("eval", early + ["pair_filter.enabled=true", "+pair_filter.colour=1"])
        )
    assert not (tmp_path / "cache").exists()


def test_end_to_end_train_and_eval(tmp_path):
    from vsc_sam import eval as eval_main
    from vsc_sam import train as train_main

    common = TINY + [f"output_dir={tmp_path}", f"data.cache_dir={tmp_path}/cache"]
    train_main.run(compose_cfg("train", common + TRAIN))
    out = tmp_path / "r.json"
    payload = eval_main.run(compose_cfg("eval", common + EVAL + [f"eval.output={out}"]))
    saved = json.loads(out.read_text())
    for key in (
        "paper",
        "metric",
        "value",
        "baseline",
        "baseline_value",
        "config",
        "config_hash",
        "overrides",
        "code_version",
        "seed",
        "hardware",
        "command",
        "date",
    ):
        assert key in saved
    # the results JSON is a copy of the run folder's result, with the config that ran
    assert saved == json.loads((tmp_path / "eval" / "result.json").read_text())
    assert saved["config"] == OmegaConf.to_container(
        compose_cfg("eval", common + EVAL + [f"eval.output={out}"]), resolve=True
    )
    locs = payload["descriptors"]["classical"]["localisers"]
    assert set(locs) == {"tn", "dp", "sam_post", "sam"}
    for result in locs.values():
        assert 0.0 <= result["segment_micro_ap"] <= 1.0
    # the hand-made localisers find the copies of this easy benchmark
    assert max(locs[n]["segment_micro_ap"] for n in ("tn", "dp", "sam_post")) > 0.3
    assert (tmp_path / "eval" / "predictions" / "classical_tn.csv").is_file()
    pair_filter = payload["descriptors"]["classical"]["pair_filter"]
    assert "skipped" not in pair_filter  # both classes occur: the filter trains and rescores
    assert set(pair_filter["localisers"]) == set(locs)
    assert 0.0 <= pair_filter["pair_uap_of_localised"] <= 1.0


def test_eval_with_sscd_descriptor(tmp_path):
    """descriptors=[sscd] trains the SSCD CNN on the training split, reuses the checkpoint on a
    second run, and refuses a checkpoint trained on test videos."""
    from vsc_sam.checkpoint import read_state

    from vsc_sam import eval as eval_main

    common = (
        TINY
        + EVAL
        + [
            f"output_dir={tmp_path}",
            f"data.cache_dir={tmp_path}/cache",
            f"eval.output={tmp_path}/published.json",  # never the repository's results/
            "descriptors=[sscd]",
            "eval.localisers=[tn,sam_post]",
            "sscd.width=4",
            "sscd.dim=16",
            "sscd.input_size=32",
            "sscd.steps=2",
            "sscd.batch_size=4",
            "pair_filter.steps=5",
            "pair_filter.size=8",
            "pair_filter.width=4",
        ]
    )
    payload = eval_main.run(compose_cfg("eval", common + [f"eval.output={tmp_path}/r.json"]))
    entry = payload["descriptors"]["sscd"]
    assert set(entry["localisers"]) == {"tn", "sam_post"}
    state = read_state(tmp_path / "sscd")
    train_ids = set(state["config"]["train_video_ids"])
    # training-split ids only (test ids start at offset 100000)
    assert train_ids and all(int(v[1:]) < 100000 for v in train_ids)
    # the stored checkpoint is reused (no retraining: same weights, same descriptors) by an eval
    # into another run folder, and refused with another SSCD config
    mtime = (tmp_path / "sscd" / "checkpoint.json").stat().st_mtime_ns
    again = eval_main.run(
        compose_cfg("eval", common + [f"eval.run_dir={tmp_path}/eval2", "eval.bootstrap=3"])
    )
    assert again["descriptors"]["sscd"]["descriptor_uap"] == entry["descriptor_uap"]
    assert (tmp_path / "sscd" / "checkpoint.json").stat().st_mtime_ns == mtime
    with pytest.raises(RunFolderError, match="was created with a different config"):
        eval_main.run(compose_cfg("eval", common + ["sscd.steps=3", f"eval.run_dir={tmp_path}/x"]))
    # SAM trained on the matrices of both descriptors (stored SSCD checkpoint, training split),
    # scored next to the others through eval.extra_sam on the same matrices
    from vsc_sam import train as train_main

    base = TINY + TRAIN + [f"output_dir={tmp_path}", f"data.cache_dir={tmp_path}/cache"]
    stats = train_main.run(
        compose_cfg(
            "train", base + ["descriptors=[classical,sscd]", f"checkpoint={tmp_path}/sam_mixed"]
        )
    )
    assert set(stats["real_samples_by_descriptor"]) == {"classical", "sscd"}
    assert all(n > 0 for n in stats["real_samples_by_descriptor"].values())
    assert (tmp_path / "sam_mixed" / "checkpoint.json").is_file()
    assert not (tmp_path / "sam").exists()  # the default checkpoint folder is untouched
    extra = [
        f"+eval.extra_sam.mixed={tmp_path}/sam_mixed",
        "eval.value=sam_mixed",
        "pair_filter.enabled=false",
    ]
    mixed = eval_main.run(compose_cfg("eval", common + extra + [f"eval.run_dir={tmp_path}/em"]))
    assert set(mixed["descriptors"]["sscd"]["localisers"]) == {"tn", "sam_post", "sam_mixed"}
    assert (
        mixed["value"]
        == mixed["descriptors"]["sscd"]["localisers"]["sam_mixed"]["segment_micro_ap"]
    )
    with pytest.raises(ConfigError, match="eval.extra_sam.nope"):
        eval_main.run(compose_cfg("eval", common + [f"+eval.extra_sam.nope={tmp_path}/none"]))
    with pytest.raises(ConfigError, match="eval.value"):
        eval_main.run(compose_cfg("eval", common + ["eval.value=sam"]))
    with pytest.raises(ConfigError, match="sscd.checkpoint"):
        train_main.run(
            compose_cfg("train", base + ["descriptors=[sscd]", f"sscd.checkpoint={tmp_path}/no"])
        )
    # an edited (unverifiable) checkpoint is refused before any work, naming the file
    path = next((tmp_path / "sscd").glob("ckpt-*")) / "state.json"
    state = json.loads(path.read_text())
    path.write_text(json.dumps({**state, "step": 1}))
    with pytest.raises(ConfigError, match="state.json: sha256 differs"):
        eval_main.run(compose_cfg("eval", common + [f"eval.run_dir={tmp_path}/e3"]))
    # a committed checkpoint that lists a test video is refused (leakage)
    from vsc_sam.sscd import SSCDNet

    leaky = tmp_path / "sscd_leaky"
    leaky.mkdir()
    shutil.copy(tmp_path / "sscd" / "config.json", leaky / "config.json")
    model = SSCDNet(4, 16)
    config = {
        **state["config"],
        "train_video_ids": state["config"]["train_video_ids"] + ["Q100000"],
    }
    save_checkpoint(leaky, model, torch.optim.AdamW(model.parameters()), 2, config)
    leak = [f"sscd.checkpoint={leaky}", f"eval.run_dir={tmp_path}/e4"]
    with pytest.raises(ConfigError, match="overlap the held-out split"):
        eval_main.run(compose_cfg("eval", common + leak))
    with pytest.raises(ConfigError, match="outside the training split"):
        train_main.run(compose_cfg("train", base + ["descriptors=[sscd]", leak[0]]))


def test_eval_builds_each_sam_checkpoint_with_its_own_width(tmp_path):
    # extra_sam checkpoints of another width than cfg.model load (architecture from state.json)
    from omegaconf import OmegaConf
    from vsc_sam.checkpoint import load_model_weights
    from vsc_sam.eval import sam_architecture

    torch.manual_seed(0)
    model = SAMUNet(width=6, depth=2)
    optimizer = torch.optim.Adam(model.parameters())
    save_checkpoint(tmp_path / "w6", model, optimizer, 1, {"model": {"width": 6, "depth": 2}})
    cfg = OmegaConf.create({"model": {"width": 4, "depth": 2}})
    arch = sam_architecture(cfg, str(tmp_path / "w6"))
    assert arch == {"width": 6, "depth": 2}
    load_model_weights(tmp_path / "w6", SAMUNet(**arch))  # would raise on a width mismatch
    assert sam_architecture(cfg, str(tmp_path / "none")) == {"width": 4, "depth": 2}
