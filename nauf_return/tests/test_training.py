"""Behaviour on a tiny memorised model: filter, unlearning effects, resume, CLI errors."""

import copy
import json

import pytest
import torch
from omegaconf import OmegaConf

from nauf_return import pipeline
from nauf_return.errors import ConfigError
from nauf_return.evaluation import evaluate_persons, memorised
from nauf_return.losses import parse_method
from nauf_return.model import tiny_llama
from nauf_return.training import LoopConfig, SFTDataset, run_loop, sft_step
from nauf_return.world import filter_bench

from conftest import TINY_OVERRIDES, compose


def _with(cfg, **section):
    return OmegaConf.merge(cfg, OmegaConf.create(section))


def test_memorisation_filter(original):
    cfg, world, _, mo, tok, bench, info = original
    assert info["memorised"] == info["candidates"] == 6  # injection reached the filter
    fmt, judge = pipeline.prompt_format(cfg), pipeline.make_judge(cfg)
    untrained = tiny_llama(tok, 64, 2, 4, seed=7)
    res = evaluate_persons(untrained, tok, fmt, judge, bench.retain_train[:2])
    assert memorised(res) == []
    with pytest.raises(ConfigError, match="memorisation filter"):
        filter_bench(bench, set(memorised(res)))


def _unlearn_and_score(original, method, **trainer):
    cfg, world, acc, mo, tok, bench, _ = original
    cfg = _with(cfg, trainer=trainer, eval={"robustness": False, "logprob": False})
    before = pipeline.evaluate_model(cfg, mo, tok, bench, True)
    mu, _ = pipeline.unlearn(cfg, parse_method(method), mo, tok, bench, acc, None)
    after = pipeline.evaluate_model(cfg, mu, tok, bench, True)
    return before, after


def test_nauf_refuses_forget_persons_by_name_and_keeps_retain(original):
    before, after = _unlearn_and_score(original, "nauf_gd", epochs=40)
    f0, f1 = before["forget_test"], after["forget_test"]
    r0, r1 = before["retain_test"], after["retain_test"]
    assert f0.accuracy >= 0.8
    assert f1.accuracy <= 0.5 * f0.accuracy
    assert f1.rate("refusal") >= 0.5
    assert f1.summary()["refusals_naming_person"] >= 0.8  # name-aware refusals
    # A 2-layer model shares most weights between persons, so some retain loss is expected.
    assert r1.accuracy >= 0.65 * r0.accuracy and r1.accuracy >= f1.accuracy + 0.5
    assert r1.rate("refusal") <= 0.05


def test_gradient_ascent_lowers_forget_accuracy(original):
    before, after = _unlearn_and_score(original, "ga", epochs=3)
    assert after["forget_test"].accuracy < 0.5 * before["forget_test"].accuracy


def test_resume_replays_an_interrupted_run(tmp_path, original):
    cfg, world, acc, mo, tok, bench, _ = original
    fmt = pipeline.prompt_format(cfg)
    data = SFTDataset(bench.retain_train[:2], tok, fmt, biographies=False)
    loop = LoopConfig(lr=1e-3, epochs=2, batch_size=8, save_every=2, seed=3)

    mo = copy.deepcopy(mo).requires_grad_(True)  # a KL test may have frozen the shared M_o
    straight = copy.deepcopy(mo)
    run_loop(acc, straight, data, sft_step, loop, None, "sft")

    def crashing(model):
        step, calls = sft_step(model), {"n": 0}

        def inner(batch):
            calls["n"] += 1
            if calls["n"] == 4:
                raise RuntimeError("simulated crash")
            return step(batch)
        return inner
    resumed = copy.deepcopy(mo)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_loop(acc, resumed, data, crashing, loop, tmp_path, "sft")
    run_loop(acc, resumed, data, sft_step, loop, tmp_path, "sft", resume=True)
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert (tmp_path / "sft_checkpoint" / "model.safetensors").is_file()
    assert (tmp_path / "sft_metrics.jsonl").read_text().count("\n") >= 3


def test_train_then_eval_cli_functions(tmp_path, original):
    from nauf_return.eval import run_eval
    from nauf_return.train import run_train

    _, _, _, mo, tok, _, _ = original
    pipeline.save_original(mo, tok, tmp_path / "original")
    overrides = TINY_OVERRIDES + [f"output_dir={tmp_path}", "method=nauf_gd",
                                  "trainer.max_steps=3", "eval.robustness=false"]
    final = run_train(compose(overrides))
    assert (final / "model.safetensors").is_file()
    assert (tmp_path / "splits" / "manifest.json").is_file()
    record = run_eval(compose(overrides, name="eval"))
    for key in ("paper", "metric", "value", "baseline", "baseline_value", "config", "seed",
                "hardware", "command", "date"):
        assert key in record
    assert 0.0 <= record["value"] <= 100.0
    # Evaluating another method than the folder was trained with is refused, naming the key.
    with pytest.raises(ConfigError, match="was created with a different config(.|\n)*method"):
        run_eval(compose(overrides[:-3] + ["method=npo", "eval.robustness=false"], name="eval"))
    stored = (tmp_path / "results_augmented_refuse_difference.predictions.jsonl")
    assert {r["method"] for r in map(json.loads, stored.read_text().splitlines())} == {
        "original", "augmented_refuse_difference"}


@pytest.mark.parametrize("override, message", [
    ("method=forgetful", "unknown method"),
    ("data.kind=wiki", "data.kind"),
    ("templates.refusal=/nonexistent.txt", "not found"),
    ("trainer.lr=0", "trainer.lr"),
])
def test_entry_point_rejects_bad_config_before_work(tmp_path, override, message):
    from nauf_return.train import run_train

    with pytest.raises(ConfigError, match=message):
        run_train(compose(TINY_OVERRIDES + [f"output_dir={tmp_path}", override]))
    assert not (tmp_path / "original").exists()
